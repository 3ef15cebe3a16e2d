"""Shared helpers for the base-product suite.

Every build goes into pytest's tmp_path. Fixture content lives in tests/fixtures/; a test that
needs a variant copies a fixture folder into tmp_path and edits the copy.

The fixtures hold their own site.yaml, sources and catalog data, but not catalog/labels.yaml:
that file is the page copy the templates ask for, so it is taken from the shipped content
(content/catalog/labels.yaml) when a fixture is copied, and stays in step with the templates.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the package is used from the work tree, installed or not
    sys.path.insert(0, str(REPO))

from healthsite import pipeline  # noqa: E402
from healthsite.cli import cli  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures"
MINIMAL = FIXTURES / "minimal"
SHIPPED = REPO / "content"
TEMPLATES = REPO / "templates"
SEED_CHECK = Path(__file__).resolve().parents[2] / "shared" / "tools" / "seed_check.py"
SEED_TEXT = Path(__file__).resolve().parents[2] / "shared" / "seed" / "health-page-tiktok-ads-france.txt"

# What the minimal fixture holds (tests/fixtures/minimal/sources/*.yaml).
AUTHORIZED = "cyspera"
OTHER = "northwind"
MINE = {  # slug -> name, profile cyspera
    "tiktok-ads-france": "TikTok Ads France",
    "shopify-eu": "Shopify EU Store",
    "ga4-pending": "GA4 Web Property",
}
FOREIGN_SOURCE = ("meta-ads-northwind", "Northwind Meta Campaigns")
FOREIGN_ACCOUNT_NAMES = ("Northwind Meta Ad Account", "Northwind Borrowed Storefront")
FOREIGN_TEXT = ("Northwind-only context line.", "Northwind Retail")
RAW_REFS = ("tt_7123456789_fr", "shp_99887766554_eu", "legacyoutlet12345", "shp_55554444333_nw",
            "act_2468013579_nw")

PROBLEM = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


# ---- content folders --------------------------------------------------------------------------
def copy_content(src: Path, dest: Path) -> Path:
    """Copy a fixture content folder to dest, with the shipped page copy (labels.yaml)."""
    shutil.copytree(src, dest)
    labels = dest / "catalog" / "labels.yaml"
    if not labels.exists():
        shutil.copyfile(SHIPPED / "catalog" / "labels.yaml", labels)
    return dest


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A private, editable copy of the minimal fixture."""
    return copy_content(MINIMAL, tmp_path / "content")


def write_source(content_dir: Path, slug: str, text: str, suffix: str = ".yaml") -> Path:
    path = content_dir / "sources" / f"{slug}{suffix}"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def source_yaml(name: str = "Probe Source", platform: str = "tiktok_ads", profile: str = "cyspera",
                status: str = "pending", extra: str = "") -> str:
    """A small valid source file; extra is appended as YAML text (already dedented)."""
    body = (f"name: {name}\nplatform: {platform}\nprofile: {profile}\nstatus: {status}\n"
            "technical:\n  enabled: true\n")
    return body + textwrap.dedent(extra).lstrip("\n")


# ---- builds -----------------------------------------------------------------------------------
def build(content_dir: Path, out: Path, **kwargs) -> pipeline.BuildResult:
    return pipeline.build(content_dir, out, **kwargs)


@pytest.fixture(scope="session")
def minimal_site(tmp_path_factory) -> Path:
    """The minimal fixture built once, for read-only assertions."""
    root = tmp_path_factory.mktemp("minimal")
    out = root / "site"
    pipeline.build(copy_content(MINIMAL, root / "content"), out)
    return out


@pytest.fixture(scope="session")
def northwind_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("northwind")
    out = root / "site"
    pipeline.build(copy_content(MINIMAL, root / "content"), out, profile=OTHER)
    return out


# ---- reading output ---------------------------------------------------------------------------
def soup_of(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def text_of(node) -> str:
    """Visible text with runs of white space collapsed to one space."""
    return re.sub(r"\s+", " ", node.get_text(" ")).strip()


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def output_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def tree_hash(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file (and '/' for every folder) under folder."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "/"
    return out


def html_pages(folder: Path) -> list[Path]:
    return [p for p in output_files(folder) if p.suffix == ".html"]


# ---- command line -----------------------------------------------------------------------------
def run_cli(*args: str):
    runner = CliRunner()
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def problems_in(text: str) -> list[dict]:
    """Every `path:line:col: message` line of text, parsed."""
    found = []
    for line in text.splitlines():
        m = PROBLEM.match(line)
        if m:
            found.append({"path": m["path"], "line": int(m["line"]), "col": int(m["col"]),
                          "message": m["message"], "raw": line})
    return found


def problems_for(text: str, filename: str) -> list[dict]:
    return [p for p in problems_in(text) if Path(p["path"]).name == filename]
