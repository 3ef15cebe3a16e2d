"""The dashboard: the index's Statuspage-style summary, severity order, reasons per row, and the
static filter pages (status/<status>.html, platform/<id>.html) that work with no server."""
from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from healthsite.resolve import STATUS_ORDER

pytest_plugins = ["healthsite.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "content"


def make_content(tmp_path: Path, sources: dict[str, str], labels: dict[str, str] | None = None) -> Path:
    """site.yaml and the catalog of the shipped content, with only the given sources."""
    root = tmp_path / "content"
    (root / "sources").mkdir(parents=True)
    shutil.copy(SHIPPED / "site.yaml", root / "site.yaml")
    shutil.copytree(SHIPPED / "catalog", root / "catalog")
    if labels:
        path = root / "catalog" / "labels.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data.update(labels)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    for slug, text in sources.items():
        (root / "sources" / f"{slug}.yaml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def source(name: str, platform: str, status: str, profile: str = "cyspera", reasons: str = "") -> str:
    return (f"name: {name}\nplatform: {platform}\nprofile: {profile}\nstatus: {status}\n"
            f"technical:\n  enabled: {'false' if status == 'disabled' else 'true'}\n" + reasons)


MIXED = {
    "alpha-failing": source("Alpha Failing", "shopify", "failing", reasons="reasons:\n  - sync_failing\n  - auth_expired\n"),
    "beta-healthy": source("Beta Healthy", "tiktok_ads", "healthy"),
    "gamma-degraded": source("Gamma Degraded", "shopify", "degraded", reasons="reasons:\n  - rate_limited\n"),
    "delta-healthy": source("Delta Healthy", "shopify", "healthy"),
    "epsilon-other": source("Epsilon Other Profile", "linkedin_ads", "failing", profile="northwind",
                            reasons="reasons:\n  - sync_failing\n"),
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    from healthsite.pytest_plugin import build_site
    content = make_content(tmp_path_factory.mktemp("mixed"), MIXED)
    return build_site(content, tmp_path_factory.mktemp("mixed-out") / "site")


# ---- the shipped site -------------------------------------------------------------------------
def test_summary_line_counts_every_status(health_site):
    data = health_site.json()
    index = health_site.index()
    summary = index.soup.select_one(".summary").get_text(" ", strip=True)
    total = len(data["sources"])
    assert summary.startswith(f"{total} sources")
    for status, count in data["counts"].items():
        if count:
            assert f"{count} {status}" in summary
        else:
            assert status not in summary
    counts = index.section("Sources by status")
    assert counts.chips == list(STATUS_ORDER)
    shown = [int(n.get_text()) for n in index.soup.select("ul.counts .count")]
    assert shown == [data["counts"][s] for s in STATUS_ORDER]


def test_overall_line_names_the_worst_status(health_site):
    data = health_site.json()
    labels = yaml.safe_load((SHIPPED / "catalog" / "labels.yaml").read_text(encoding="utf-8"))
    worst = data["sources"][0]["status"]
    overall = health_site.index().soup.select_one("#overall-title")
    assert overall.select_one(".badge").get_text() == worst
    assert labels[f"overall_{worst}"] in overall.get_text()


def test_rows_in_severity_order_with_their_reasons(health_site):
    rows = health_site.index().section("All sources").rows
    data = health_site.json()["sources"]
    assert [r["Source"] for r in rows] == [s["name"] for s in data]
    ranks = [STATUS_ORDER.index(r["Status"]) for r in rows]
    assert ranks == sorted(ranks)
    for row, src in zip(rows, data):
        for reason in src["reasons"]:
            assert reason["code"] in row["Reasons"] and reason["message"] in row["Reasons"]


def test_every_status_has_a_filter_page_linked_from_the_index(health_site):
    index = health_site.index()
    links = {a["href"] for a in index.soup.select("nav.filters a")}
    for status in STATUS_ORDER:
        assert f"status/{status}.html" in links
        page = health_site.filter_page("status", status)
        names = [r["Source"] for r in page.section(f"Status: {status}").rows] \
            if page.soup.select("table.sources") else []
        expected = [s["name"] for s in health_site.json()["sources"] if s["status"] == status]
        assert names == expected
        current = page.soup.select('nav.filters a[aria-current="page"]')
        assert [a["href"] for a in current] == [f"../status/{status}.html"]


def test_platform_filter_pages(health_site):
    data = health_site.json()["sources"]
    used = {s["platform"]["id"] for s in data}
    index_links = {a["href"] for a in health_site.index().soup.select("nav.filters a")}
    for platform in used:
        assert f"platform/{platform}.html" in index_links
        page = health_site.filter_page("platform", platform)
        table = page.soup.select_one("table.sources")
        slugs = [tr["data-platform"] for tr in table.select("tbody tr")]
        assert slugs and set(slugs) == {platform}
        assert len(slugs) == sum(1 for s in data if s["platform"]["id"] == platform)
        current = page.soup.select('nav.filters a[aria-current="page"]')
        assert [a["href"] for a in current] == [f"../platform/{platform}.html"]


def test_index_marks_all_as_current(health_site):
    current = health_site.index().soup.select('nav.filters a[aria-current="page"]')
    assert current and {a["href"] for a in current} == {"index.html"}


def test_filter_pages_link_back_relatively(health_site):
    for path in sorted((health_site.root / "status").glob("*.html")) + sorted((health_site.root / "platform").glob("*.html")):
        soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        assert soup.select_one('link[rel="stylesheet"]')["href"] == "../assets/style.css"
        for a in soup.select("main a[href]"):
            href = a["href"]
            assert not href.startswith(("/", "http:", "https:")), href
            assert (path.parent / href.split("#")[0]).resolve().is_file(), href


def test_every_internal_link_resolves(health_site):
    for page in sorted(health_site.root.rglob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for tag, attr in (("a", "href"), ("link", "href"), ("img", "src")):
            for node in soup.find_all(tag, attrs={attr: True}):
                target = node[attr]
                if target.startswith(("#", "http:", "https:", "mailto:")):
                    continue
                assert not target.startswith("/"), f"{page}: absolute link {target}"
                assert (page.parent / target.split("#")[0]).resolve().is_file(), f"{page}: broken link {target}"


def test_every_page_has_a_csp_and_no_script(health_site):
    for page in sorted(health_site.root.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        soup = BeautifulSoup(html, "html.parser")
        csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
        assert csp and "default-src 'none'" in csp["content"], page
        assert soup.find("script") is None, page
        assert not soup.find_all(style=True), f"{page}: an inline style attribute (blocked by the CSP)"
        assert not re.search(r"\son[a-z]+=", html), page


# ---- built from a small content folder ---------------------------------------------------------
def test_filters_never_show_another_profile(mixed):
    assert not mixed.exists("platform/linkedin_ads.html")
    for page in [mixed.index()] + [mixed.filter_page("status", s) for s in STATUS_ORDER]:
        assert "Epsilon" not in page.html and "LinkedIn" not in page.html
    assert mixed.filter_page("status", "failing").section("Status: failing").table.column("Source") == ["Alpha Failing"]
    platforms = [a.get_text(" ", strip=True) for a in mixed.index().soup.select("#filter-platform + ul a")]
    assert platforms == ["All (4)", "TikTok Ads (1)", "Shopify (3)"]


def test_summary_for_a_small_profile(mixed):
    index = mixed.index()
    assert index.soup.select_one(".summary").get_text(" ", strip=True) == "4 sources · 1 failing · 1 degraded · 2 healthy"
    assert index.section("All sources").table.column("Source") == [
        "Alpha Failing", "Gamma Degraded", "Beta Healthy", "Delta Healthy"]
    row = index.section("All sources").rows[0]
    assert row["Reasons"].startswith("sync_failing The last syncs failed")
    assert "auth_expired" in row["Reasons"]
    chips = index.soup.select("table.sources tbody tr")[0].select(".chip")
    assert [c.get_text() for c in chips] == ["sync_failing", "auth_expired"]


def test_empty_filter_page_says_so(mixed):
    page = mixed.filter_page("status", "pending")
    assert page.soup.select_one("table.sources") is None
    assert "No sources match this filter." in page.text
    assert "Showing 0 of 4 sources." in page.text
    assert page.soup.select_one(".showing a")["href"] == "../index.html"


def test_filter_page_heading_and_title(mixed):
    page = mixed.filter_page("platform", "shopify")
    assert page.soup.h1.get_text(" ", strip=True) == "Connector health · Platform: Shopify"
    assert page.title.startswith("Platform: Shopify · Connector health")
    assert 'aria-current="page"' in str(page.soup.select_one("nav.breadcrumb"))


def test_dashboard_copy_comes_from_labels(tmp_path):
    from healthsite.pytest_plugin import build_site
    content = make_content(tmp_path, MIXED, labels={"overall_failing": "Quelque chose brûle",
                                                    "filter_by_status": "Par statut"})
    site = build_site(content, tmp_path / "out")
    text = site.index().text
    assert "Quelque chose brûle" in text and "Par statut" in text


def test_an_empty_profile_builds_a_dashboard(tmp_path):
    from healthsite.pytest_plugin import build_site
    content = make_content(tmp_path, {"only-other": MIXED["epsilon-other"]})
    site = build_site(content, tmp_path / "out")
    index = site.index()
    assert "No sources to report on" in index.text
    assert "No sources in this profile yet." in index.text
    assert not (site.root / "platform").exists()
    assert "Epsilon" not in index.html
