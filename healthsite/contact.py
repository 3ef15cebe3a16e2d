"""`contact-sheet`: every source page at desktop and phone widths on one review page, by status.

Builds the site into a temporary folder, opens each source page from file:// in Chromium
(Playwright, driving the system's Chromium: no browser download), saves a full-page screenshot
at 1280 and 375 px, and writes OUT/contact/index.html showing them side by side, grouped by
status in the site's status order. OUT/contact/ is replaced whole, and only when every
screenshot has been taken.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from html import escape
from pathlib import Path

import click

from . import pipeline, render

WIDTHS = {"desktop": (1280, 800), "phone": (375, 812)}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-extensions", "--mute-audio", "--hide-scrollbars"]
GENERATOR = "source-health-preview contact-sheet"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


@dataclass
class Shot:
    slug: str
    name: str
    platform: str
    status: str
    files: dict[str, tuple[str, int, int]]  # view -> (relative path, width, height)


def find_chromium(explicit: str | None = None) -> str:
    for candidate in (explicit, os.environ.get("HEALTHSITE_CHROMIUM"), *CHROMIUM_CANDIDATES,
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise click.ClickException("no Chromium found: install it (apt-get install chromium) or pass --chromium PATH")


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def make(content_dir: Path, out_dir: Path, profile: str | None = None, chromium: str | None = None,
         templates: Path = render.TEMPLATES, echo=click.echo) -> Path:
    """Write out_dir/contact/index.html and its screenshots; return the index path."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise click.ClickException("contact-sheet needs Playwright: pip install -e '.[test]'") from None
    browser_path = find_chromium(chromium)
    out_dir = Path(out_dir)
    _check_out(out_dir, Path(content_dir))
    target = out_dir / "contact"
    if target.exists() and not _is_contact_sheet(target):
        raise click.ClickException(f"{target}: exists and is not a contact sheet made by this tool; not replacing it")

    with tempfile.TemporaryDirectory(prefix="healthsite-contact-") as tmp:
        site = Path(tmp) / "site"
        result = pipeline.build(content_dir, site, profile, False, templates)
        data = json.loads((site / "sources.json").read_text(encoding="utf-8"))
        out_dir.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".contact.building-", dir=out_dir))
        try:
            shots = _screenshots(sync_playwright, browser_path, site, data["sources"], stage)
            statuses = list(data["counts"])
            (stage / "contact.css").write_text(CSS, encoding="utf-8")
            (stage / "index.html").write_text(
                _page(shots, statuses, data["profile"], result.sources, str(content_dir)), encoding="utf-8")
            _swap(stage, target)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    echo(f"contact sheet: {len(shots)} sources, {2 * len(shots)} screenshots -> {target / 'index.html'}")
    return target / "index.html"


def _check_out(out: Path, content: Path) -> None:
    out_real, content_real = out.resolve(), content.resolve()
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise click.ClickException(f"{out}: not a folder (or a symbolic link); choose another --out")
    if out_real == content_real or out_real.is_relative_to(content_real) or content_real.is_relative_to(out_real):
        raise click.ClickException(f"{out}: overlaps the content folder {content}; choose another --out")


def _is_contact_sheet(folder: Path) -> bool:
    try:
        return f'content="{GENERATOR}"' in (folder / "index.html").read_text(encoding="utf-8")[:2000]
    except OSError:
        return False


def _swap(stage: Path, target: Path) -> None:
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=".contact.old-", dir=target.parent))
        os.rename(target, old / "contact")
        os.rename(stage, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(stage, target)


def _screenshots(sync_playwright, browser_path: str, site: Path, sources: list[dict], stage: Path) -> list[Shot]:
    (stage / "shots").mkdir()
    shots = [Shot(s["slug"], s["name"], s["platform"]["name"], s["status"], {}) for s in sources]
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        except Exception as exc:  # playwright's Error: a missing library, a broken binary...
            raise click.ClickException(f"{browser_path} did not start: {str(exc).splitlines()[0]}") from None
        try:
            for view, (width, height) in WIDTHS.items():
                context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1,
                                              reduced_motion="reduce", color_scheme="light")
                # Offline: the pages are files and must need nothing else.
                context.route(lambda url: not url.startswith("file://"), lambda route: route.abort())
                page = context.new_page()
                for shot in shots:
                    page.goto((site / "sources" / f"{shot.slug}.html").as_uri(), wait_until="load")
                    rel = f"shots/{shot.slug}-{view}.png"
                    page.screenshot(path=str(stage / rel), full_page=True, animations="disabled", caret="hide")
                    shot.files[view] = (rel, *png_size(stage / rel))
                context.close()
        finally:
            browser.close()
    return shots


def _page(shots: list[Shot], statuses: list[str], profile: str, count: int, content: str) -> str:
    groups: dict[str, list[Shot]] = {status: [] for status in statuses}
    for shot in sorted(shots, key=lambda s: s.name.casefold()):
        groups.setdefault(shot.status, []).append(shot)  # a status the site does not list still shows
    nav = "".join(f'<li><a href="#status-{escape(st)}"><span class="status status--{escape(st)}">{escape(st)}</span> '
                  f'{len(items)}</a></li>' for st, items in groups.items() if items)
    sections = []
    for status, items in groups.items():
        if not items:
            continue
        figures = []
        for s in items:
            views = []
            for view in WIDTHS:
                rel, width, height = s.files[view]
                alt = f"{s.name}, {view} ({WIDTHS[view][0]} px wide)"
                views.append(
                    f'<div class="frame frame--{view}"><a class="shot" href="{escape(rel)}">'
                    f'<img src="{escape(rel)}" width="{width}" height="{height}" alt="{escape(alt)}" loading="lazy">'
                    f'</a></div>')
            figures.append(
                f'<figure class="source" id="source-{escape(s.slug)}">'
                f'<figcaption><strong>{escape(s.name)}</strong> <span class="meta">{escape(s.platform)} · '
                f'<code>{escape(s.slug)}</code></span></figcaption>'
                f'<div class="views">{"".join(views)}</div></figure>')
        sections.append(
            f'<section class="group" id="status-{escape(status)}" aria-labelledby="status-{escape(status)}-title">'
            f'<h2 id="status-{escape(status)}-title"><span class="status status--{escape(status)}">{escape(status)}'
            f'</span> <span class="count">{len(items)}</span></h2>{"".join(figures)}</section>')
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'">
<meta name="generator" content="{GENERATOR}">
<title>Contact sheet · Source Health Preview</title>
<link rel="stylesheet" href="contact.css">
</head>
<body>
<header>
<h1>Contact sheet</h1>
<p>{count} source pages of profile <strong>{escape(profile)}</strong> from <code>{escape(content)}</code>, at desktop
({WIDTHS["desktop"][0]} px) and phone ({WIDTHS["phone"][0]} px) widths, grouped by status. Select a screenshot to
open it at full size.</p>
<nav aria-label="Statuses"><ul class="statuses">{nav}</ul></nav>
</header>
<main>
{"".join(sections) or "<p>No source pages in this profile.</p>"}
</main>
</body>
</html>
"""


CSS = """:root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.45; }
body { margin: 0 auto; padding: 1rem; max-width: 64rem; background: Canvas; color: CanvasText; }
h1 { margin: 0 0 .25rem; font-size: 1.5rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
code { font-size: .9em; }
ul.statuses { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .5rem 1rem; }
.status { display: inline-block; border: 1px solid currentColor; border-radius: 999px; padding: 0 .6rem;
  font-weight: 600; }
.group { border-top: 2px solid GrayText; }
.source { margin: 0 0 1.5rem; }
figcaption { margin: .5rem 0; }
.meta { color: inherit; opacity: .85; }
.views { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
/* Both widths at half size, so they compare honestly; a tall page scrolls inside its frame. */
.frame { border: 1px solid GrayText; max-height: 70vh; overflow-y: auto; max-width: 100%; }
.frame--desktop img { width: 640px; }
.frame--phone img { width: 188px; }
.shot { display: block; }
.shot img { display: block; max-width: 100%; height: auto; }
.shot:focus-visible { outline: 3px solid Highlight; outline-offset: -3px; }
"""
