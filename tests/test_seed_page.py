"""The TikTok Ads France page built from the shipped content reads like the seed, line for line."""
from __future__ import annotations

import importlib.util
import re
import sys

import pytest

from .conftest import SEED_CHECK, SEED_TEXT, SHIPPED, build, soup_of, squash, text_of

SLUG = "tiktok-ads-france"


@pytest.fixture(scope="module")
def shipped_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("shipped") / "site"
    build(SHIPPED, out)
    return out


@pytest.fixture(scope="module")
def seed_page(shipped_site):
    return shipped_site / "sources" / f"{SLUG}.html"


@pytest.fixture(scope="module")
def seed_check():
    if not SEED_CHECK.is_file():
        pytest.skip(f"{SEED_CHECK} is not there")
    spec = importlib.util.spec_from_file_location("seed_check", SEED_CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_check_passes(seed_check, seed_page, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["seed_check.py", str(seed_page)])
    code = seed_check.main()
    report = capsys.readouterr().out
    assert code == 0, report
    assert "missing" not in report


def test_every_seed_line_in_order(seed_check, seed_page):
    if not SEED_TEXT.is_file():
        pytest.skip(f"{SEED_TEXT} is not there")
    text = seed_check.squash(seed_check.page_text(seed_page.read_text(encoding="utf-8")))
    lines = seed_check.seed_lines(SEED_TEXT.read_text(encoding="utf-8"))
    assert len(lines) >= 30
    pos, missing = 0, []
    for line in lines:
        at = text.find(seed_check.squash(line), pos)
        if at < 0:
            missing.append(line)
        else:
            pos = at + len(seed_check.squash(line))
    assert missing == []


# ---- the key lines, read with BeautifulSoup ----------------------------------------------------
def flat(node) -> str:
    return re.sub(r"\s+", " ", node.get_text("")).strip()


@pytest.fixture(scope="module")
def doc(seed_page):
    return soup_of(seed_page)


def section(doc, heading):
    for h in doc.find_all(["h1", "h2"]):
        if text_of(h) == heading:
            return h.find_parent("section")
    raise AssertionError(heading)


def test_banner(doc):
    if not SEED_TEXT.is_file():
        pytest.skip(f"{SEED_TEXT} is not there")
    banner = doc.select_one(".mock-banner")
    assert squash(banner.get_text("")) == squash(SEED_TEXT.read_text(encoding="utf-8").splitlines()[0])


def test_health_and_context(doc):
    health = section(doc, "Health")
    assert "Post-connection review (preview)." in [text_of(p) for p in health.find_all("p")]


def test_status_line(doc):
    line = doc.select_one(".status-line")
    assert squash(line.get_text("")) == "Status:healthymapping_unconfirmed"
    assert line.select_one(".badge").get_text() == "healthy"
    assert [flat(li) for li in section(doc, "Health").select("ul li")] == [
        "mapping_unconfirmed Mapping unconfirmed — metrics hidden from widgets."]


def test_technical_status(doc):
    tech = section(doc, "Technical status")
    pairs = [(text_of(dt), text_of(dd)) for dt, dd in zip(tech.find_all("dt"), tech.find_all("dd"))]
    assert pairs[:6] == [("Enabled", "No"), ("API version review", "NOT_REQUIRED"), ("schema_changed", "No"),
                         ("changelog_review_required", "No"), ("field_mapping_check_required", "Yes"),
                         ("mapping status", "unconfirmed")]
    assert pairs[6][0] == "last successful sync"
    assert tech.find("time") is None  # not set in the seed: no date is made up


def test_actions(doc):
    items = section(doc, "Actions (preview only)").select("li")
    assert len(items) == 9
    assert flat(items[0]) == ('allowed Preview: "Reconnect" on "TikTok Ads France" — '
                              'Re-run authorization to restore the connection. (no execution).')
    assert flat(items[-1]) == ('allowed Preview: "Open data quality" on "TikTok Ads France" — '
                               "Open the data quality view for this source's scope. (no execution).")
    assert all(li.select_one(".chip").get_text() == "allowed" for li in items)


def test_data_quality(doc):
    items = section(doc, "Data quality").select("li")
    assert [squash(li.get_text("")) for li in items] == [
        squash("INFOmapping_unconfirmedField mapping unconfirmed — metrics hidden from widgets.")]


def test_sync_history(doc):
    sync = section(doc, "Sync history (preview)")
    assert [th.get_text() for th in sync.select("thead th")][:6] == [
        "Status", "Fetched", "Processed", "Failed", "API version", "Error"]
    rows = [[td.get_text() for td in tr.find_all("td")][:6] for tr in sync.select("tbody tr")]
    assert rows == [["completed", "1000", "1000", "0", "", ""]] * 2
    assert "Preview only — no real job runs in this shell." in text_of(sync)


def test_external_accounts(doc):
    accounts = section(doc, "External accounts")
    assert [th.get_text() for th in accounts.select("thead th")] == ["Account", "Masked ref", "Selected"]
    assert [[text_of(td) for td in tr.find_all("td")] for tr in accounts.select("tbody tr")] == [
        ["TikTok Ads - Cyspera FR (mapping unconfirmed)", "tt_•••_fr", "No"]]


def test_anti_leak_footer(doc):
    assert text_of(doc.find("footer")).endswith(
        "Anti-leak: only external accounts within the authorized Profile are shown; secrets are never displayed.")


def test_raw_ref_absent(seed_page):
    assert b"tt_7123456789_fr" not in seed_page.read_bytes()
