"""Stage 3, render: view models -> output files (path, bytes), through Jinja2 with autoescape on.

Every page is rendered by one compiled environment. Markdown from content is converted, then
sanitized with nh3 (an allow-list: no script, no event handlers, only http(s)/mailto/relative
links). Pages link relatively, so the site works from file://, a sub-path or a server.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Iterator

import jinja2
import markdown
import nh3
from markupsafe import Markup

from .views import Labels, MissingLabel, SiteView, SourceView

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
EXPORT_FORMAT = "source-health-preview/sources"
EXPORT_VERSION = 1

_ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "code", "pre", "ul", "ol", "li", "a", "blockquote",
                 "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "del", "kbd"}
_ALLOWED_ATTRS = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
_URL_SCHEMES = {"http", "https", "mailto"}


class RenderError(Exception):
    """A template could not be rendered (a missing label, a template bug)."""


_md = markdown.Markdown(extensions=["tables", "sane_lists"], output_format="html")


def markdown_html(text: str | None) -> Markup:
    """Markdown -> HTML -> sanitized HTML. The sanitizer, not the Markdown library, is the gate."""
    if not text:
        return Markup("")
    html = _md.reset().convert(text)
    clean = nh3.clean(html, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRS, url_schemes=_URL_SCHEMES,
                      link_rel="noopener noreferrer", strip_comments=True)
    return Markup(clean)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_environment(templates: Path = TEMPLATES) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["markdown"] = markdown_html
    env.filters["iso"] = _iso
    env.filters["utc"] = lambda value, fmt: value.strftime(fmt)
    env.filters["duration"] = _duration
    return env


def _duration(seconds: float, labels: Labels) -> str:
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, labels.unit_hours), (minutes, labels.unit_minutes), (secs, labels.unit_seconds)]
    shown = [f"{n} {unit}" for n, unit in parts if n] or [f"0 {labels.unit_seconds}"]
    return " ".join(shown[:2])


def _inline_style_hash(css: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()


def render_site(site: SiteView, templates: Path = TEMPLATES) -> Iterator[tuple[str, bytes]]:
    """Yield every output file as (relative path, bytes), in a fixed order."""
    env = make_environment(templates)
    try:
        counts = Counter(s.status for s in site.sources)
        common = {"site": site, "labels": site.labels}
        yield "index.html", _page(env, "index.html", root="", counts=counts, **common)
        source_template = env.get_template("source.html")
        for source in site.sources:
            yield f"sources/{source.slug}.html", _encode(source_template.render(root="../", source=source, **common))
        css = (templates / "assets" / "style.css").read_text(encoding="utf-8")
        yield "404.html", _page(env, "404.html", root="", inline_css=css, css_hash=_inline_style_hash(css), **common)
        for asset in sorted((templates / "assets").rglob("*")):
            if asset.is_file():
                yield "assets/" + asset.relative_to(templates / "assets").as_posix(), asset.read_bytes()
        yield "sources.json", export_json(site)
        yield ".nojekyll", b""
    except MissingLabel as exc:
        raise RenderError(f"catalog/labels.yaml: a template needs the label {exc.key!r}, which is missing") from None
    except jinja2.TemplateError as exc:
        where = f"{exc.filename}:{exc.lineno}: " if getattr(exc, "lineno", None) else ""
        raise RenderError(f"{where}template error: {exc.message}") from None


def _page(env: jinja2.Environment, name: str, **context) -> bytes:
    return _encode(env.get_template(name).render(**context))


def _encode(text: str) -> bytes:
    return text.encode("utf-8")


def export_json(site: SiteView) -> bytes:
    """sources.json: the authorized profile's sources, masked, in a documented versioned format."""
    def source(s: SourceView) -> dict:
        t = s.technical
        return {
            "slug": s.slug,
            "name": s.name,
            "url": f"sources/{s.slug}.html",
            "platform": {"id": s.platform.id, "name": s.platform.name},
            "status": s.status,
            "reasons": [{"code": r.code, "severity": r.severity, "message": r.message} for r in s.reasons],
            "technical": {
                "enabled": t.enabled,
                "api_version_review": t.api_version_review,
                "schema_changed": t.schema_changed,
                "changelog_review_required": t.changelog_review_required,
                "field_mapping_check_required": t.field_mapping_check_required,
                "mapping_status": t.mapping_status,
                "last_successful_sync": _iso(t.last_successful_sync) if t.last_successful_sync else None,
            },
            "data_quality": [{"severity": d.severity, "code": d.code, "message": d.message} for d in s.data_quality],
            "sync_runs": len(s.runs),
            "last_sync_status": s.runs[0].status if s.runs else None,
            "external_accounts": [{"name": a.name, "masked_ref": a.masked_ref, "selected": a.selected,
                                   "mapping_status": a.mapping_status} for a in s.accounts],
        }

    counts = Counter(s.status for s in site.sources)
    doc = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "profile": site.profile_id,
        "counts": {status: counts.get(status, 0) for status in site.statuses},
        "sources": [source(s) for s in site.sources],
    }
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")
