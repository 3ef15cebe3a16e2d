"""A pytest plugin for HTML assertion tests on the built preview site.

Installed with the package (entry point `pytest11`), so any project that depends on
source-health-preview gets these fixtures:

- `health_site` (session): the content folder built once per test session into a temporary
  folder. The folder is `content` (relative to the rootdir) unless `--health-content DIR` or the
  `health_content` ini value says otherwise; the profile is site.yaml's unless
  `--health-profile NAME` or `health_profile` says otherwise.
- `health_build` (function): a factory, `health_build(content_dir, profile=None)`, that builds
  any content folder (a tmp_path copy a test has edited) into a fresh temporary folder.

Both return a `HealthSite`: `.page(slug)` for a health page, `.index()`, `.history(slug)`,
`.filter_page("status", "failing")`, `.json()` for sources.json, `.path(relpath)`. A `Page` finds
a section by its heading, and a section has its table rows as dicts keyed by the column
headers, its chips, its list items and its facts (a <dl>):

    def test_tiktok(health_site):
        page = health_site.page("tiktok-ads-france")
        assert page.status == "healthy"
        assert page.section("External accounts").rows[0]["Masked ref"] == "tt_•••_fr"

BeautifulSoup (beautifulsoup4) parses the pages; it is imported only when a page is read.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

_SPACE = re.compile(r"\s+")
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
CHIP_CLASSES = ("chip", "badge")


_BLOCKS = frozenset({"address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
                     "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
                     "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot",
                     "th", "thead", "tr", "ul", "svg", "title", "desc", "text"})
_SKIP = frozenset({"script", "style", "template", "noscript"})


def _text(node) -> str:
    """The text a reader sees, as a browser lays it out: inline elements run on ("tt_•••_fr",
    "Preview: "Open sync history" on"), block elements are apart; runs of white space are one space."""
    from bs4 import NavigableString

    parts: list[str] = []

    def walk(tag) -> None:
        for child in tag.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # not a comment, doctype or CDATA
                    parts.append(str(child))
            elif child.name not in _SKIP and not child.has_attr("hidden"):
                block = child.name in _BLOCKS
                if block:
                    parts.append(" ")
                walk(child)
                if block:
                    parts.append(" ")

    if isinstance(node, NavigableString):
        return _SPACE.sub(" ", str(node)).strip()
    walk(node)
    return _SPACE.sub(" ", "".join(parts)).strip()


def _squash(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


# ---- pages ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One list item: its whole text and the chips in it."""

    text: str
    chips: list[str]

    def __str__(self) -> str:
        return self.text


class Table:
    """A <table>: its column headers and its body rows as dicts keyed by header text."""

    def __init__(self, node):
        self.node = node
        head = node.find("thead")
        header_row = head.find("tr") if head else node.find("tr")
        self.headers: list[str] = [_text(c) for c in header_row.find_all(["th", "td"])] if header_row else []
        body_rows = []
        for tr in node.find_all("tr"):
            if tr is header_row or tr.find_parent("table") is not node:
                continue
            body_rows.append(tr)
        self._rows = body_rows

    @property
    def rows(self) -> list[dict[str, str]]:
        return [dict(zip(self.headers, (_text(c) for c in tr.find_all(["th", "td"], recursive=False))))
                for tr in self._rows]

    def column(self, header: str) -> list[str]:
        if header not in self.headers:
            raise KeyError(f"no column {header!r}; the columns are {self.headers}")
        return [row.get(header, "") for row in self.rows]

    def __len__(self) -> int:
        return len(self._rows)


class Section:
    """The part of a page under one heading: its <section> when the heading has one, otherwise
    everything up to the next heading of the same or a higher level."""

    def __init__(self, heading, nodes: list):
        self.heading_node = heading
        self.heading = _text(heading)
        self.nodes = nodes

    def _find_all(self, name=None, class_=None) -> list:
        found = []
        for node in self.nodes:
            if getattr(node, "name", None) is not None:  # a tag, not a bare string
                found.extend(_select(node, name, class_))
        return found

    @property
    def text(self) -> str:
        return " ".join(t for t in (_text(n) if getattr(n, "name", None) else _SPACE.sub(" ", str(n)).strip()
                                    for n in self.nodes) if t)

    @property
    def tables(self) -> list[Table]:
        return [Table(t) for t in self._find_all("table")]

    @property
    def table(self) -> Table:
        tables = self.tables
        if not tables:
            raise LookupError(f"section {self.heading!r} has no table")
        return tables[0]

    @property
    def rows(self) -> list[dict[str, str]]:
        """The rows of the section's first table, as {column header: cell text}."""
        return self.table.rows

    @property
    def chips(self) -> list[str]:
        """The text of every chip and status badge in the section, in page order."""
        return [_text(n) for n in self._find_all(class_=CHIP_CLASSES)]

    @property
    def items(self) -> list[Item]:
        """The list items of the section's lists (not those inside tables)."""
        return [Item(_text(li), [_text(c) for c in li.find_all(class_=CHIP_CLASSES)])
                for li in self._find_all("li") if li.find_parent("table") is None]

    @property
    def facts(self) -> dict[str, str]:
        """A description list as {term: description}."""
        out = {}
        for dl in self._find_all("dl"):
            for dt in dl.find_all("dt"):
                dd = dt.find_next_sibling("dd")
                out[_text(dt)] = _text(dd) if dd else ""
        return out

    @property
    def links(self) -> dict[str, str]:
        """Every link as {link text: href}."""
        return {_text(a): a.get("href", "") for a in self._find_all("a")}

    def __repr__(self) -> str:
        return f"<Section {self.heading!r}>"


def _select(node, name=None, class_=None) -> list:
    """node itself when it matches, then its matching descendants, in document order."""
    out = [node] if _matches(node, name, class_) else []
    kwargs = {"class_": list(class_) if isinstance(class_, tuple) else class_} if class_ else {}
    out.extend(node.find_all(list(name) if isinstance(name, tuple) else name, **kwargs))
    return out


def _matches(node, name=None, class_=None) -> bool:
    if name is not None and node.name not in ((name,) if isinstance(name, str) else name):
        return False
    if class_ is not None:
        classes = node.get("class") or []
        wanted = (class_,) if isinstance(class_, str) else class_
        if not any(c in classes for c in wanted):
            return False
    return True


class Page:
    """One built HTML page."""

    def __init__(self, path: Path, relpath: str):
        from bs4 import BeautifulSoup  # only when a page is read

        self.path = path
        self.relpath = relpath
        self.html = path.read_text(encoding="utf-8")
        self.soup = BeautifulSoup(self.html, "html.parser")

    @property
    def title(self) -> str:
        return _text(self.soup.title) if self.soup.title else ""

    @property
    def main(self):
        return self.soup.find("main") or self.soup.body or self.soup

    @property
    def text(self) -> str:
        return _text(self.soup.body or self.soup)

    @property
    def status(self) -> str | None:
        """The status badge of a health page (the first badge in the main content)."""
        badge = self.main.find(class_="badge")
        return _text(badge) if badge else None

    @property
    def chips(self) -> list[str]:
        return [_text(n) for n in self.main.find_all(class_=CHIP_CLASSES)]

    @property
    def headings(self) -> list[str]:
        return [_text(h) for h in self.main.find_all(_HEADINGS)]

    def section(self, heading: str) -> Section:
        """The section under the heading whose text is `heading` (white space and case ignored); a
        unique heading that starts with it matches too ("Sync history" finds "Sync history (preview)")."""
        wanted = _squash(heading)
        nodes = self.main.find_all(_HEADINGS)
        exact = [h for h in nodes if _squash(_text(h)) == wanted]
        found = exact or [h for h in nodes if _squash(_text(h)).startswith(wanted)]
        if len(found) != 1:
            problem = "no heading" if not found else f"{len(found)} headings"
            raise LookupError(f"{self.relpath}: {problem} matching {heading!r}; the headings are {self.headings}")
        return Section(found[0], _section_nodes(found[0]))

    def has_section(self, heading: str) -> bool:
        try:
            self.section(heading)
        except LookupError:
            return False
        return True

    def links(self) -> dict[str, str]:
        return {_text(a): a.get("href", "") for a in self.main.find_all("a")}

    def __repr__(self) -> str:
        return f"<Page {self.relpath}>"


def _section_nodes(heading) -> list:
    parent = heading.find_parent("section")
    if parent is not None and parent.find(_HEADINGS) is heading:
        return [parent]
    level = int(heading.name[1])
    nodes = [heading]
    for sibling in heading.next_siblings:
        name = getattr(sibling, "name", None)
        if name in _HEADINGS and int(name[1]) <= level:
            break
        nodes.append(sibling)
    return nodes


# ---- sites ------------------------------------------------------------------------------------
@dataclass
class HealthSite:
    """A built site: its folder and the build's result (profile, counts, warnings)."""

    root: Path
    result: Any = None
    _pages: dict[str, Page] = field(default_factory=dict, repr=False)

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def exists(self, relpath: str) -> bool:
        return (self.root / relpath).is_file()

    def file(self, relpath: str) -> Page:
        """Any built HTML page, by its path in the output folder."""
        if relpath not in self._pages:
            path = self.root / relpath
            if not path.is_file():
                raise LookupError(f"{relpath}: no such page in the built site")
            self._pages[relpath] = Page(path, relpath)
        return self._pages[relpath]

    def page(self, slug: str) -> Page:
        """The health page of the source `slug`."""
        if not self.exists(f"sources/{slug}.html"):
            raise LookupError(f"no health page for {slug!r} (the built sources are {self.slugs})")
        return self.file(f"sources/{slug}.html")

    def history(self, slug: str) -> Page:
        """The full sync-history page of `slug` (only sources with more runs than a page shows)."""
        return self.file(f"history/{slug}.html")

    def index(self) -> Page:
        return self.file("index.html")

    def filter_page(self, kind: str, value: str) -> Page:
        """A dashboard filter page: filter_page("status", "failing"), filter_page("platform", "shopify")."""
        return self.file(f"{kind}/{value}.html")

    def json(self) -> dict:
        """sources.json, parsed."""
        return json.loads((self.root / "sources.json").read_text(encoding="utf-8"))

    @property
    def slugs(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "sources").glob("*.html"))


def build_site(content_dir: Path, out_dir: Path, profile: str | None = None) -> HealthSite:
    """Build content_dir into out_dir; a content error fails the test with every problem listed."""
    from . import pipeline
    from .problems import ContentError

    try:
        result = pipeline.build(Path(content_dir), Path(out_dir), profile)
    except ContentError as exc:
        pytest.fail(f"the content in {content_dir} does not build:\n{exc}", pytrace=False)
    except pipeline.LeakError as exc:
        pytest.fail(f"the build of {content_dir} failed the leak scan:\n{exc}", pytrace=False)
    return HealthSite(Path(out_dir), result)


# ---- hooks and fixtures -----------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("health", "Source Health Preview")
    group.addoption("--health-content", dest="health_content", default=None, metavar="DIR",
                    help="content folder the health_site fixture builds (default: the health_content "
                         "ini value, else 'content' in the rootdir)")
    group.addoption("--health-profile", dest="health_profile", default=None, metavar="NAME",
                    help="profile the health_site fixture builds for (default: site.yaml's)")
    parser.addini("health_content", "content folder the health_site fixture builds, relative to the ini file",
                  default="content")
    parser.addini("health_profile", "profile the health_site fixture builds for (default: site.yaml's)",
                  default="")


def content_dir(config: pytest.Config) -> Path:
    option = config.getoption("health_content")
    if option:
        return (Path(config.invocation_params.dir) / option).resolve()
    base = config.inipath.parent if config.inipath else config.rootpath
    return (base / config.getini("health_content")).resolve()


def profile(config: pytest.Config) -> str | None:
    return config.getoption("health_profile") or config.getini("health_profile") or None


@pytest.fixture(scope="session")
def health_site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> HealthSite:
    """The content folder (--health-content / health_content, default 'content'), built once per session."""
    config = request.config
    out = tmp_path_factory.mktemp("health-site") / "site"
    return build_site(content_dir(config), out, profile(config))


@pytest.fixture
def health_build(tmp_path_factory: pytest.TempPathFactory):
    """A factory: health_build(content_dir, profile=None) -> HealthSite, built into a fresh folder."""
    def build(content: Path | str, profile: str | None = None) -> HealthSite:
        out = tmp_path_factory.mktemp("health-build") / "site"
        return build_site(Path(content), out, profile)
    return build
