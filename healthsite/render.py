"""Stage 3, render: view models -> output files (path, bytes), through Jinja2 with autoescape on.

Every page is rendered by one compiled environment. Markdown from content is converted, then
sanitized with nh3 (an allow-list: no script, no event handlers, only http(s)/mailto/relative
links). Pages link relatively, so the site works from file://, a sub-path or a server.

The output: index.html (the dashboard) and its filters as plain pages, status/<status>.html and
platform/<id>.html; sources/<slug>.html (health pages, with the sync-history chart);
history/<slug>.html (sources with more runs than a health page shows); badges/<slug>.svg;
404.html; assets/; sources.json; .nojekyll. Every file goes to the write stage through
render_site, so the leak scan reads every one of them, SVG and JSON included.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import zlib
import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Iterator

import jinja2
import markdown
import nh3
from markupsafe import Markup, escape

from .views import Labels, MissingLabel, RunView, SiteView, SourceView

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


@functools.lru_cache(maxsize=512)  # the banner is on every page: convert it once
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
    # Chips and times as Python globals: the same markup the templates had as macros, several
    # times faster (they are called thousands of times a build). Status is always the text.
    env.globals.update(chip=chip, status_badge=status_badge, when=when, yes_no=yes_no)
    env.filters["markdown"] = markdown_html
    env.filters["iso"] = _iso
    env.filters["utc"] = lambda value, fmt: value.strftime(fmt)
    env.filters["duration"] = _duration
    env.filters["fill"] = fill
    env.filters["num"] = _num
    return env


def chip(text: str, tone: str) -> Markup:
    return Markup('<span class="chip chip--%s">%s</span>') % (str(tone).lower(), text)


def status_badge(status: str) -> Markup:
    return Markup('<span class="badge badge--%s">%s</span>') % (status, status)


def when(value: datetime | None, labels: Labels) -> Markup:
    """A UTC time for people, with its machine-readable form; "never" (labels) when None."""
    if not value:
        return escape(labels.never)
    return Markup('<time datetime="%s">%s</time>') % (_iso(value), value.strftime(labels.datetime_format))


def yes_no(value: bool, labels: Labels) -> str:
    return labels.yes if value else labels.no


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def fill(template: str, **values: object) -> str:
    """Put values into a label's {name} placeholders. Only plain names are replaced (no attribute
    or index look-ups, unlike str.format), so a label cannot reach into the values it is given;
    an unknown placeholder is left as written."""
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)


def _num(value: float) -> str:
    """A coordinate for SVG: at most two decimals, no trailing zeros, never '-0'."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _duration(seconds: float, labels: Labels) -> str:
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, labels.unit_hours), (minutes, labels.unit_minutes), (secs, labels.unit_seconds)]
    shown = [f"{n} {unit}" for n, unit in parts if n] or [f"0 {labels.unit_seconds}"]
    return " ".join(shown[:2])


def _inline_style_hash(css: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()


_RENDERERS: dict[str, "Renderer"] = {}


class Renderer:
    """One compiled environment, rendering a source's own files and the site-level files apart:
    a source's files depend only on the site shell (no other source), so they can be rendered in
    any process and cached per source; the site-level files are put together from summaries."""

    def __init__(self, templates: Path = TEMPLATES):
        self.templates = Path(templates)
        self.env = make_environment(self.templates)

    @classmethod
    def for_folder(cls, templates: Path = TEMPLATES) -> "Renderer":
        """One renderer per templates folder for the process: compiling the templates cost more
        than a whole small build. Jinja reloads a template whose file changed (serve edits them)."""
        key = str(Path(templates).resolve())
        if key not in _RENDERERS:
            _RENDERERS[key] = cls(templates)
        return _RENDERERS[key]

    def source_files(self, shell: SiteView, source: SourceView) -> list[tuple[str, bytes]]:
        """sources/<slug>.html, history/<slug>.html (long histories) and badges/<slug>.svg."""
        with _render_errors():
            common = {"site": shell, "labels": shell.labels}
            chart = sync_chart(source.recent_runs, len(source.runs), shell.labels)
            out = [(f"sources/{source.slug}.html", _encode(self.env.get_template("source.html").render(
                root="../", source=source, chart=chart, **common)))]
            if source.has_full_history:
                out.append((f"history/{source.slug}.html", _encode(self.env.get_template("history.html").render(
                    root="../", source=source, **common))))
            out.append((f"badges/{source.slug}.svg", _encode(self.env.get_template("badge.svg").render(
                badge=badge(source), **common))))
            return out

    def rows(self, shell: SiteView, source: SourceView) -> tuple[str, str]:
        """The source's row of the dashboard table, for the index and for the filter pages."""
        with _render_errors():
            row = self.env.get_template("macros.html").module.source_row
            return str(row(source, "", shell.labels)).strip(), str(row(source, "../", shell.labels)).strip()

    def site_files(self, site: SiteView, json_entries: list[bytes],
                   rows: dict[str, tuple[str, str]]) -> Iterator[tuple[str, bytes | Iterator[bytes]]]:
        """The dashboard and its filter pages (from each source's rows, as rows() made them),
        404, assets, sources.json (from each source's entry, as export_entry_text made it; in
        pieces, an iterator of bytes) and .nojekyll. Thousands of rows are only joined here, not rendered again."""
        with _render_errors():
            counts = Counter(s.status for s in site.sources)
            platform_counts = Counter(s.platform.id for s in site.sources)
            common = {"site": site, "labels": site.labels, "counts": counts, "platform_counts": platform_counts}
            def joined(shown: tuple[SourceView, ...], which: int) -> Markup:
                # Rows are joined in Python: a template loop over thousands of them cost more
                # than everything else on these pages.
                return Markup("\n      ".join(rows[s.slug][which] for s in shown))
            index = self.env.get_template("index.html")
            # One file at a time: with thousands of sources, these pages and sources.json are the
            # largest things a build holds.
            yield "index.html", _encode(index.render(root="", rows=joined(site.sources, 0), shown=site.sources,
                                                     current=None, **common))
            # The filters, as plain pages: they work with no server and no script.
            for status in site.statuses:
                shown = tuple(s for s in site.sources if s.status == status)
                yield f"status/{status}.html", _encode(index.render(
                    root="../", rows=joined(shown, 1), shown=shown, current=("status", status), **common))
            for platform in site.platforms:
                shown = tuple(s for s in site.sources if s.platform.id == platform.id)
                yield f"platform/{platform.id}.html", _encode(index.render(
                    root="../", rows=joined(shown, 1), shown=shown, current=("platform", platform.id),
                    current_platform=platform, **common))
            try:
                css = (self.templates / "assets" / "style.css").read_text(encoding="utf-8")
            except OSError as exc:
                raise RenderError(f"{self.templates}/assets/style.css: cannot read the stylesheet: "
                                  f"{exc.strerror or exc}") from None
            yield "404.html", _page(self.env, "404.html", root="", inline_css=css,
                                    css_hash=_inline_style_hash(css), **common)
            for asset in sorted((self.templates / "assets").rglob("*")):
                if asset.is_file():
                    yield "assets/" + asset.relative_to(self.templates / "assets").as_posix(), asset.read_bytes()
            yield "sources.json", export_document(site, json_entries)
            yield ".nojekyll", b""


class _render_errors:
    """Template failures as RenderError, naming the template line or the missing label."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, MissingLabel):
            raise RenderError(f"catalog/labels.yaml: a template needs the label {exc.key!r}, which is missing") from None
        if isinstance(exc, jinja2.TemplateError):
            where = f"{exc.filename}:{exc.lineno}: " if getattr(exc, "lineno", None) else ""
            raise RenderError(f"{where}template error: {exc.message}") from None
        return False


def shell_of(site: SiteView) -> SiteView:
    """The site without its sources: all a source's own pages may depend on."""
    return replace(site, sources=(), platforms=())


def render_site(site: SiteView, templates: Path = TEMPLATES) -> Iterator[tuple[str, bytes]]:
    """Yield every output file as (relative path, bytes), in a fixed order: the whole site in one
    process (the engine renders the same files per source, in parallel and cached)."""
    renderer = Renderer.for_folder(templates)
    shell = shell_of(site)
    rows = {s.slug: renderer.rows(shell, s) for s in site.sources}
    for relpath, data in renderer.site_files(site, [export_entry_text(s) for s in site.sources], rows):
        yield relpath, data if isinstance(data, bytes) else b"".join(data)
    for source in site.sources:
        yield from renderer.source_files(shell, source)


# ---- the sync-history chart -------------------------------------------------------------------
SERIES = ("fetched", "processed", "failed")
# Fallback fills, for a viewer without the stylesheet; the stylesheet sets the themed colours.
SERIES_FILL = {"fetched": "#2f6db5", "processed": "#2e7d4f", "failed": "#c0392b"}


@dataclass(frozen=True, slots=True)
class Bar:
    series: str
    value: int
    x: float
    y: float
    width: float
    height: float
    attrs: str  # x, y, width and height, formatted once for the template
    fill: str
    title: str  # "#3 · Fetched: 1000", from labels


@dataclass(frozen=True, slots=True)
class ChartGroup:
    number: int  # the run's number in the whole history, the oldest being 1
    run: RunView
    x: str  # centre of the group, for its labels
    bars: tuple[Bar, ...]
    lines: tuple[str, ...]  # the labels under the group: start date and time, or the run number
    svg: Markup = Markup("")  # the group's SVG, escaped: put together once, not in a template loop


@dataclass(frozen=True, slots=True)
class Chart:
    """A grouped bar chart of fetched / processed / failed per run, oldest run on the left.

    The layout, with every word already taken from labels.yaml; the template (macros.html,
    sync_chart) only writes it out. Coordinates are preformatted: a health page has up to 30
    bars, and formatting them in Python once is several times faster than in the template."""

    width: int
    height: int
    left: str
    right: str  # x of the plot's right edge
    top: int
    bottom: int  # y of the baseline
    ticks: tuple[tuple[int, str, str], ...]  # (value, y, y of its text)
    groups: tuple[ChartGroup, ...]
    first: int  # number of the oldest run shown
    last: int  # number of the newest run shown
    title: str
    desc: str  # the text alternative: every number of the chart, oldest run first
    label_y: tuple[str, str, str]  # y of the group's label lines and of its status


def _nice_max(value: int) -> int:
    """The smallest 1, 2, 4, 5 or 8 x 10^k at or above value (at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 4, 5, 8):
            if step * m >= value:
                return step * m
        step *= 10


def sync_chart(runs: tuple[RunView, ...], total: int, labels: Labels, width: int = 720,
               height: int = 240) -> Chart | None:
    """Lay out the chart for runs given newest first (as in the content); total is the number of
    runs in the whole history, so the bars are numbered as the history page numbers them."""
    if not runs:
        return None
    left, right, top, bottom = 56, width - 8, 12, height - 50
    top_value = _nice_max(max(max(r.fetched, r.processed, r.failed) for r in runs))
    plot_h = bottom - top
    ordered = tuple(reversed(runs))  # oldest first: time runs left to right
    slot = (right - left) / len(ordered)
    bar_w = min(slot * 0.8 / len(SERIES), 28.0)
    series_names = {series: labels["col_" + series] for series in SERIES}
    run_label, bar_label, run_desc = labels.chart_run, labels.chart_bar, labels.chart_desc_run
    date_format, time_format = labels.chart_date_format, labels.chart_time_format
    groups, desc = [], [fill(labels.chart_desc, first=total - len(ordered) + 1, last=total, total=total)]
    first = total - len(ordered) + 1
    for i, run in enumerate(ordered):
        number = first + i
        name = fill(run_label, n=number)
        centre = left + slot * (i + 0.5)
        x0 = centre - bar_w * len(SERIES) / 2
        bars = []
        for j, series in enumerate(SERIES):
            value = getattr(run, series)
            h = plot_h * value / top_value
            x, y = x0 + j * bar_w, bottom - h
            bars.append(Bar(series, value, x, y, bar_w, h,
                            f'x="{_num(x)}" y="{_num(y)}" width="{_num(bar_w)}" height="{_num(h)}"',
                            SERIES_FILL[series], fill(bar_label, run=name, series=series_names[series], value=value)))
        lines = ((run.started_at.strftime(date_format), run.started_at.strftime(time_format)) if run.started_at
                 else (name,))
        groups.append(ChartGroup(number, run, _num(centre), tuple(bars), lines))
        desc.append(fill(run_desc, n=number, status=run.status, fetched=run.fetched, processed=run.processed,
                         failed=run.failed))
    values = (0, top_value // 2, top_value) if top_value >= 2 else (0, top_value)
    ticks = tuple((v, _num(bottom - plot_h * v / top_value), _num(bottom - plot_h * v / top_value + 4))
                  for v in values)
    label_y = (_num(bottom + 15), _num(bottom + 29), _num(bottom + 43))
    groups = [replace(g, svg=_group_svg(g, label_y)) for g in groups]
    return Chart(width, height, _num(left), _num(right), top, bottom, ticks, tuple(groups), first, total,
                 labels.chart_title, " ".join(desc), label_y)


def _group_svg(g: ChartGroup, label_y: tuple[str, str, str]) -> Markup:
    """One run's bars and labels. The markup the chart macro wrote per bar, built here once per
    run: the chart was half of a health page's rendering time as a template loop."""
    status = escape(g.run.status)
    out = [f'<g class="chart-run chart-run--{status}">']
    for b in g.bars:
        out.append(f'<rect class="bar bar--{escape(b.series)}" {b.attrs} fill="{escape(b.fill)}">'
                   f'<title>{escape(b.title)}</title></rect>')
    for i, line in enumerate(g.lines):
        out.append(f'<text class="chart-label" x="{g.x}" y="{label_y[i]}" text-anchor="middle" '
                   f'font-size="{11 if i == 0 else 10}">{escape(line)}</text>')
    out.append(f'<text class="chart-status" x="{g.x}" y="{label_y[2]}" text-anchor="middle" '
               f'font-size="10">{status}</text>')
    out.append("</g>")
    return Markup("\n".join(out) + "\n")


# ---- the status badge -------------------------------------------------------------------------
# Approximate advance widths of Verdana at 11 px, as shields.io measures: enough to size a
# badge's two halves without a font file. Unlisted characters count as wide.
_NARROW = {c: 3.9 for c in "fijlrt!|.,:;'`()[]{}"}
_NARROW.update({" ": 3.9, "I": 4.6, "-": 4.6, "/": 4.6, "_": 7.0})
_WIDE = {c: 10.0 for c in "mwMW@%"}
_BADGE_LABEL_MAX = 40


def text_width(text: str) -> float:
    total = 0.0
    for c in text:
        if c in _NARROW:
            total += _NARROW[c]
        elif c in _WIDE:
            total += _WIDE[c]
        elif c.isupper() or c.isdigit():
            total += 7.6
        elif c.isascii():
            total += 6.8
        else:
            total += 8.5
    return total


@dataclass(frozen=True)
class Badge:
    label: str
    message: str
    status: str
    label_width: float
    width: float


def badge(source: SourceView) -> Badge:
    label = source.name if len(source.name) <= _BADGE_LABEL_MAX else source.name[:_BADGE_LABEL_MAX - 1] + "…"
    label_w = round(text_width(label) + 12)
    message_w = round(text_width(source.status) + 12)
    return Badge(label, source.status, source.status, label_w, label_w + message_w)


def _page(env: jinja2.Environment, name: str, **context) -> bytes:
    return _encode(env.get_template(name).render(**context))


def _encode(text: str) -> bytes:
    return text.encode("utf-8")


def export_entry(s: SourceView) -> dict:
    """One source in sources.json (docs/export.md; schema/sources.schema.json)."""
    t = s.technical
    return {
        "slug": s.slug,
        "name": s.name,
        "url": f"sources/{s.slug}.html",
        "history_url": f"history/{s.slug}.html" if s.has_full_history else None,
        "badge_url": f"badges/{s.slug}.svg",
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
        "sync_history": [{"status": r.status, "fetched": r.fetched, "processed": r.processed, "failed": r.failed,
                          "api_version": r.api_version, "error": r.error,
                          "started_at": _iso(r.started_at) if r.started_at else None,
                          "duration_s": r.duration_s} for r in s.runs],
        "external_accounts": [{"name": a.name, "masked_ref": a.masked_ref, "selected": a.selected,
                               "mapping_status": a.mapping_status} for a in s.accounts],
    }


_ENTRY_INDENT = "    "  # an entry sits two levels deep in the document: {"sources": [ ... ]}


def export_entry_text(s: SourceView) -> bytes:
    """export_entry as the text it has inside sources.json, compressed: a cached source's entry is
    reused as it is, and thousands of them (with their sync histories) stay small in memory."""
    text = json.dumps(export_entry(s), ensure_ascii=False, indent=2)
    return zlib.compress((_ENTRY_INDENT + text.replace("\n", "\n" + _ENTRY_INDENT)).encode("utf-8"), 1)


def export_document(site: SiteView, entries: list[bytes]) -> Iterator[bytes]:
    """sources.json, in pieces: the authorized profile's sources, masked, in a documented
    versioned format (docs/export.md; schema/sources.schema.json). Keys are only ever added
    within a version. Joined, the same bytes as json.dumps(doc, indent=2) of the whole document;
    streamed, because with thousands of sources it is the largest file of the site."""
    counts = Counter(s.status for s in site.sources)
    head = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "profile": site.profile_id,
        "title": site.title,
        "counts": {status: counts.get(status, 0) for status in site.statuses},
        "sources": [],
    }
    text = json.dumps(head, ensure_ascii=False, indent=2)
    if not entries:
        yield (text + "\n").encode("utf-8")
        return
    assert text.endswith('"sources": []\n}')
    yield (text[: -len("[]\n}")] + "[\n").encode("utf-8")
    for i, entry in enumerate(entries):
        yield (b",\n" if i else b"") + zlib.decompress(entry)
    yield b"\n  ]\n}\n"

