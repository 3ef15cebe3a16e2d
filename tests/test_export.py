"""Export: sources.json (versioned, documented, masked, authorized profile only) and the
shields-style status badges (badges/<slug>.svg) with their embed snippets."""
from __future__ import annotations

import json
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from healthsite import schema
from healthsite.pytest_plugin import build_site
from healthsite.render import EXPORT_FORMAT, EXPORT_VERSION
from healthsite.resolve import STATUS_ORDER

pytest_plugins = ["healthsite.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "content"
SVG = "{http://www.w3.org/2000/svg}"


def make_content(tmp_path: Path, sources: dict[str, str], site_extra: str = "") -> Path:
    root = tmp_path / "content"
    (root / "sources").mkdir(parents=True)
    (root / "site.yaml").write_text((SHIPPED / "site.yaml").read_text(encoding="utf-8") + site_extra, encoding="utf-8")
    shutil.copytree(SHIPPED / "catalog", root / "catalog")
    for slug, text in sources.items():
        (root / "sources" / f"{slug}.yaml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


MINE = """
    name: Mine <& "Quoted">
    platform: tiktok_ads
    profile: cyspera
    status: failing
    reasons:
      - sync_failing
    technical:
      enabled: true
    sync_history:
      - status: failed
        fetched: 10
        processed: 0
        failed: 10
        error: Boom.
        started_at: 2026-11-20T08:15:00Z
        duration_s: 12
    external_accounts:
      - name: My account
        ref: tt_5550001112_fr
        profile: cyspera
      - name: Borrowed Foreign Account
        ref: tt_9990001112_nw
        profile: northwind
    """
FOREIGN = """
    name: Foreign Northwind Source
    platform: meta_ads
    profile: northwind
    status: healthy
    technical:
      enabled: true
    external_accounts:
      - name: Foreign account
        ref: act_1234567890_nw
        profile: northwind
    """


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    content = make_content(tmp_path_factory.mktemp("export"), {"mine": MINE, "foreign": FOREIGN})
    return build_site(content, tmp_path_factory.mktemp("export-out") / "site")


# ---- sources.json -----------------------------------------------------------------------------
def test_export_is_versioned(health_site):
    text = health_site.path("sources.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert list(data)[:2] == ["format", "version"]
    assert data["format"] == EXPORT_FORMAT == "source-health-preview/sources"
    assert data["version"] == EXPORT_VERSION == 1
    assert list(data["counts"]) == list(STATUS_ORDER)
    assert sum(data["counts"].values()) == len(data["sources"])


def test_export_matches_its_schema(health_site):
    data = health_site.json()
    schema.ExportDocument.model_validate(data)  # strict: no key missing, none unknown
    jsonschema = pytest.importorskip("jsonschema")
    checked_in = json.loads((REPO / "schema" / "sources.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(checked_in).validate(data)


def test_export_links_point_at_built_files(health_site):
    for src in health_site.json()["sources"]:
        assert health_site.exists(src["url"])
        assert health_site.exists(src["badge_url"])
        if src["history_url"]:
            assert health_site.exists(src["history_url"])
            assert src["sync_runs"] > 10
        else:
            assert src["sync_runs"] <= 10
        assert src["sync_runs"] == len(src["sync_history"])


def test_export_is_masked_and_authorized_only(small):
    text = small.path("sources.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["profile"] == "cyspera"
    assert [s["slug"] for s in data["sources"]] == ["mine"]
    assert data["counts"]["healthy"] == 0  # the foreign healthy source is not even counted
    accounts = data["sources"][0]["external_accounts"]
    assert accounts == [{"name": "My account", "masked_ref": "tt_•••_fr", "selected": False, "mapping_status": None}]
    for needle in ("tt_5550001112_fr", "tt_9990001112_nw", "act_1234567890_nw", "Foreign", "Borrowed", "northwind"):
        assert needle not in text


def test_export_sync_history(small):
    run = small.json()["sources"][0]["sync_history"][0]
    assert run == {"status": "failed", "fetched": 10, "processed": 0, "failed": 10, "api_version": None,
                   "error": "Boom.", "started_at": "2026-11-20T08:15:00Z", "duration_s": 12.0}


def test_export_is_documented():
    doc = (REPO / "docs" / "export.md").read_text(encoding="utf-8")
    for key in ("format", "version", "counts", "masked_ref", "sync_history", "badge_url", "history_url",
                "schema/sources.schema.json"):
        assert f"`{key}`" in doc, key


# ---- badges -----------------------------------------------------------------------------------
def parse_badge(path: Path) -> ET.Element:
    return ET.fromstring(path.read_bytes())


def test_a_badge_per_source(health_site):
    data = health_site.json()["sources"]
    badges = sorted(p.stem for p in (health_site.root / "badges").glob("*.svg"))
    assert badges == sorted(s["slug"] for s in data)
    colours = {}
    for src in data:
        root = parse_badge(health_site.path(src["badge_url"]))
        assert root.tag == f"{SVG}svg" and root.get("role") == "img"
        label = f"{src['name']}: {src['status']}"
        assert root.get("aria-label") == label
        assert root.find(f"{SVG}title").text == label
        texts = [t.text for t in root.iter(f"{SVG}text")]
        assert src["status"] in texts  # the status as text, not colour alone
        message_half = [r for r in root.iter(f"{SVG}rect") if r.get("x")]
        assert len(message_half) == 1
        fill = message_half[0].get("fill")
        colours.setdefault(src["status"], set()).add(fill)
        assert int(root.get("height")) == 20
    assert all(len(fills) == 1 for fills in colours.values())
    assert len({next(iter(f)) for f in colours.values()}) == len(colours)  # one colour per status


def test_badge_escapes_the_name(small):
    raw = small.path("badges/mine.svg").read_text(encoding="utf-8")
    assert "<&" not in raw
    root = parse_badge(small.path("badges/mine.svg"))
    assert root.find(f"{SVG}title").text == 'Mine <& "Quoted">: failing'
    assert not (small.root / "badges" / "foreign.svg").exists()


def test_badge_width_grows_with_the_label(small, health_site):
    widths = {}
    for src in health_site.json()["sources"]:
        widths[src["name"]] = int(parse_badge(health_site.path(src["badge_url"])).get("width"))
    short = min(widths, key=len)
    long = max(widths, key=len)
    assert widths[long] > widths[short]


def test_health_page_shows_the_badge_and_embed_snippets(health_site):
    page = health_site.page("tiktok-ads-france")
    section = page.section("Status badge")
    img = section.nodes[0].find("img")
    assert img["src"] == "../badges/tiktok-ads-france.svg"
    assert img["alt"] == "TikTok Ads France: healthy"
    snippets = [c.get_text() for c in section.nodes[0].select("pre code")]
    assert "![TikTok Ads France: healthy](badges/tiktok-ads-france.svg)" in snippets
    assert '<img src="badges/tiktok-ads-france.svg" alt="TikTok Ads France: healthy">' in snippets


def test_embed_snippet_uses_base_url(tmp_path):
    content = make_content(tmp_path, {"mine": MINE}, site_extra="base_url: https://example.org/preview\n")
    site = build_site(content, tmp_path / "out")
    code = [c.get_text() for c in site.page("mine").soup.select(".badge-embed pre code")]
    assert code[0].endswith("(https://example.org/preview/badges/mine.svg)")
    assert "relative to the site root" not in site.page("mine").section("Status badge").text
    # the page itself still links the badge relatively
    assert site.page("mine").soup.select_one(".badge-embed img")["src"] == "../badges/mine.svg"


def test_badges_pass_the_leak_scan_like_every_file(tmp_path):
    """A name that is a raw ref of another source would be caught in the SVG too."""
    from healthsite import pipeline
    leaky = MINE.replace("name: Mine <& \"Quoted\">", "name: Mine tt_9990001112_nw")
    content = make_content(tmp_path, {"mine": leaky})
    with pytest.raises(pipeline.LeakError) as info:
        pipeline.build(content, tmp_path / "out")
    assert any(leak.file == "badges/mine.svg" for leak in info.value.leaks)
    assert not (tmp_path / "out").exists()
