"""Sync history views: the chart on the health page (with its text alternative), the latest 10
runs in the table, the full history page, and the Started / Duration columns."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from healthsite.pytest_plugin import build_site
from healthsite.render import _nice_max, sync_chart
from healthsite.views import RUNS_ON_PAGE, RunView

pytest_plugins = ["healthsite.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "content"
SEED_CHECK = REPO.parent / "shared" / "tools" / "seed_check.py"


def make_content(tmp_path: Path, sources: dict[str, str]) -> Path:
    root = tmp_path / "content"
    (root / "sources").mkdir(parents=True)
    shutil.copy(SHIPPED / "site.yaml", root / "site.yaml")
    shutil.copytree(SHIPPED / "catalog", root / "catalog")
    for slug, text in sources.items():
        (root / "sources" / f"{slug}.yaml").write_text(text, encoding="utf-8")
    return root


def runs_yaml(n: int, started: bool = True, duration: bool = True, first_failed: bool = False) -> str:
    """n runs, newest first: run k (1 = oldest) fetched 100*k, processed 100*k - k, failed k."""
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    out = ["sync_history:"]
    for k in range(n, 0, -1):
        status = "failed" if first_failed and k == n else "partial"
        out += [f"  - status: {status}", f"    fetched: {100 * k}", f"    processed: {100 * k - k}", f"    failed: {k}",
                f"    error: Error of run {k}."]
        if started:
            out.append(f"    started_at: {(start + timedelta(hours=6 * k)).strftime('%Y-%m-%dT%H:%M:%SZ')}")
        if duration:
            out.append(f"    duration_s: {60 * k + 5}")
    return "\n".join(out) + "\n"


def source(name: str, history: str) -> str:
    return textwrap.dedent(f"""\
        name: {name}
        platform: shopify
        profile: cyspera
        status: degraded
        reasons:
          - partial_data
        technical:
          enabled: true
        """) + history


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    content = make_content(tmp_path_factory.mktemp("history"), {
        "long-history": source("Long History", runs_yaml(14)),
        "exactly-ten": source("Exactly Ten", runs_yaml(10, started=False)),
        "durations-only": source("Durations Only", runs_yaml(3, started=False)),
        "started-only": source("Started Only", runs_yaml(3, duration=False)),
        "plain-runs": source("Plain Runs", runs_yaml(2, started=False, duration=False)),
        "no-runs": source("No Runs", "sync_history: []\n"),
    })
    return build_site(content, tmp_path_factory.mktemp("history-out") / "site")


def chart_of(page):
    svg = page.section("Sync history").nodes[0].find("svg", class_="sync-chart")
    assert svg is not None, "no chart"
    return svg


# ---- the chart --------------------------------------------------------------------------------
def test_chart_is_an_image_with_a_text_alternative(site):
    page = site.page("plain-runs")
    svg = chart_of(page)
    assert svg["role"] == "img"
    ids = svg["aria-labelledby"].split()
    title, desc = (page.soup.find(id=i) for i in ids)
    assert title.name == "title" and desc.name == "desc"
    assert title.get_text() == "Rows fetched, processed and failed per sync run"
    text = desc.get_text()
    assert "Runs 1 to 2 of 2, oldest first." in text
    assert "Run 1 (partial): 100 fetched, 99 processed, 1 failed." in text
    assert "Run 2 (partial): 200 fetched, 198 processed, 2 failed." in text
    assert text.index("Run 1 ") < text.index("Run 2 ")
    legend = [li.get_text(" ", strip=True) for li in page.soup.select(".chart-legend li")]
    assert legend == ["Fetched", "Processed", "Failed"]


def test_chart_bars_oldest_left_latest_ten(site):
    page = site.page("long-history")
    svg = chart_of(page)
    groups = svg.find_all("g", class_="chart-run")
    assert len(groups) == RUNS_ON_PAGE
    xs, numbers = [], []
    for g in groups:
        bars = g.find_all("rect")
        assert [b["class"][1] for b in bars] == ["bar--fetched", "bar--processed", "bar--failed"]
        xs.append(float(bars[0]["x"]))
        numbers.append(bars[0].title.get_text().split(" ")[0])
        heights = [float(b["height"]) for b in bars]
        assert heights[0] >= heights[1] >= heights[2]
    assert xs == sorted(xs)
    assert numbers == [f"#{k}" for k in range(5, 15)]  # the latest 10 of 14, oldest first
    assert groups[-1].find("rect").title.get_text() == "#14 · Fetched: 1400"
    assert "Runs 5 to 14 of 14, oldest first." in svg.desc.get_text()


def test_chart_labels_runs_by_start_time_when_given(site):
    labels = [t.get_text() for t in chart_of(site.page("started-only")).find_all("text", class_="chart-label")]
    assert labels[:2] == ["01 Nov", "06:00"]
    plain = [t.get_text() for t in chart_of(site.page("plain-runs")).find_all("text", class_="chart-label")]
    assert plain == ["#1", "#2"]


def test_no_runs_no_chart(site):
    page = site.page("no-runs")
    assert page.soup.find("svg") is None
    assert "No sync has run yet." in page.section("Sync history").text


def test_chart_layout_edge_cases():
    import yaml
    from healthsite.views import Labels
    labels = Labels(yaml.safe_load((SHIPPED / "catalog" / "labels.yaml").read_text(encoding="utf-8")))
    zero = RunView("failed", 0, 0, 0, None, "x", None, None)
    chart = sync_chart((zero,), 1, labels)
    assert all(b.height == 0 for g in chart.groups for b in g.bars)
    assert sync_chart((), 0, labels) is None
    assert [_nice_max(v) for v in (0, 1, 3, 7, 9, 1000, 1001, 6988)] == [1, 1, 4, 8, 10, 1000, 2000, 8000]
    big = RunView("completed", 10**12, 10**12, 0, None, None, None, None)
    chart = sync_chart((big,), 1, labels)
    assert chart.ticks[-1][0] == 10**12
    assert chart.groups[0].bars[0].y == pytest.approx(chart.top)
    assert chart.desc == "Runs 1 to 1 of 1, oldest first. Run 1 (completed): 1000000000000 fetched, " \
                         "1000000000000 processed, 0 failed."


# ---- the table and the history page -----------------------------------------------------------
def test_health_page_table_shows_the_latest_ten(site):
    page = site.page("long-history")
    rows = page.section("Sync history").rows
    assert len(rows) == RUNS_ON_PAGE
    assert [r["Fetched"] for r in rows] == [str(100 * k) for k in range(14, 4, -1)]  # newest first
    assert "Showing the latest 10 of 14 runs." in page.section("Sync history").text


def test_full_history_page(site):
    assert site.exists("history/long-history.html")
    page = site.history("long-history")
    rows = page.section("Sync history").rows
    assert len(rows) == 14
    assert [r["Run"] for r in rows] == [f"#{k}" for k in range(14, 0, -1)]
    assert rows[-1]["Fetched"] == "100" and rows[-1]["Error"] == "Error of run 1."
    assert page.soup.select("tbody th[scope=row]")
    crumbs = [a["href"] for a in page.soup.select("nav.breadcrumb a")]
    assert crumbs == ["../index.html", "../sources/long-history.html"]
    assert "14 runs · 14 partial" in page.text
    assert "Preview only — no real job runs in this shell." in page.text


def test_open_sync_history_links_to_the_history_page_when_there_is_one(site):
    long = site.page("long-history").section("Actions (preview only)").links
    assert long["Open sync history"] == "../history/long-history.html"
    assert site.page("long-history").section("Sync history").links["Open the full sync history"] == \
        "../history/long-history.html"
    ten = site.page("exactly-ten")
    assert ten.section("Actions (preview only)").links["Open sync history"] == "#sync-history"
    assert ten.soup.find(id="sync-history") is not None
    assert not site.exists("history/exactly-ten.html")
    assert len(ten.section("Sync history").rows) == 10
    assert "Showing the latest" not in ten.text


def test_started_and_duration_columns_only_when_given(site):
    base = ["Status", "Fetched", "Processed", "Failed", "API version", "Error"]
    assert site.page("plain-runs").section("Sync history").table.headers == base
    assert site.page("durations-only").section("Sync history").table.headers == base + ["Duration"]
    assert site.page("started-only").section("Sync history").table.headers == base + ["Started"]
    assert site.page("long-history").section("Sync history").table.headers == base + ["Started", "Duration"]
    row = site.page("long-history").section("Sync history").rows[0]
    assert row["Started"] == "2026-11-04 12:00 UTC"
    assert row["Duration"] == "14 min 5 s"
    time = site.page("long-history").section("Sync history").table.node.find("time")
    assert time["datetime"] == "2026-11-04T12:00:00Z"


# ---- the seed still reads the same -----------------------------------------------------------
@pytest.mark.skipif(not SEED_CHECK.is_file(), reason="the seed checker is not beside the repository")
def test_seed_page_still_reads_like_the_seed(health_site):
    result = subprocess.run([sys.executable, str(SEED_CHECK), str(health_site.path("sources/tiktok-ads-france.html"))],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_seed_page_history(health_site):
    page = health_site.page("tiktok-ads-france")
    rows = page.section("Sync history (preview)").rows
    assert rows == [{"Status": "completed", "Fetched": "1000", "Processed": "1000", "Failed": "0",
                     "API version": "", "Error": ""}] * 2
    assert page.section("Actions (preview only)").links["Open sync history"] == "#sync-history"
    assert len(chart_of(page).find_all("g", class_="chart-run")) == 2
