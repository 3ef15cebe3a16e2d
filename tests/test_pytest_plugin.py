"""The pytest plugin (healthsite.pytest_plugin): fixtures a QA engineer uses to pin a mock state
in three lines. Tested from the outside with pytester, and used directly here too."""
from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester", "healthsite.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "content"

TIKTOK = textwrap.dedent("""\
    name: TikTok Ads France
    platform: tiktok_ads
    profile: cyspera
    context: Post-connection review (preview).
    status: healthy
    reasons:
      - mapping_unconfirmed
    technical:
      enabled: false
      field_mapping_check_required: true
      mapping_status: unconfirmed
    data_quality:
      - severity: INFO
        code: mapping_unconfirmed
    sync_history:
      - status: completed
        fetched: 1000
        processed: 1000
        failed: 0
    external_accounts:
      - name: TikTok Ads - Cyspera FR
        ref: tt_7123456789_fr
        profile: cyspera
        mapping_status: unconfirmed
    """)


def make_content(folder: Path, sources: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHIPPED / "site.yaml", folder / "site.yaml")
    shutil.copytree(SHIPPED / "catalog", folder / "catalog")
    (folder / "sources").mkdir()
    for slug, text in (sources or {"tiktok-ads-france": TIKTOK}).items():
        (folder / "sources" / f"{slug}.yaml").write_text(text, encoding="utf-8")
    return folder


def plugin_args() -> list[str]:
    """Load the plugin in the inner run even where the package is not installed (its entry point is
    named like the module, so an installed entry point and -p never register it twice)."""
    return ["-p", "healthsite.pytest_plugin", "-p", "no:cacheprovider"]


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))  # the inner run imports the package from the work tree
    return pytester


# ---- used by a QA engineer (pytester) ---------------------------------------------------------
def test_three_line_example_from_the_readme(inner):
    content = make_content(inner.path / "content")
    inner.makepyfile(test_qa='''
        def test_tiktok(health_site):
            page = health_site.page("tiktok-ads-france")
            assert page.status == "healthy" and page.section("External accounts").rows[0]["Masked ref"] == "tt_•••_fr"
    ''')
    result = inner.runpytest(*plugin_args())
    result.assert_outcomes(passed=1)
    assert content.is_dir()


def test_health_content_option_and_ini(inner):
    make_content(inner.path / "elsewhere", {"probe-source": TIKTOK.replace("TikTok Ads France", "Probe Source")})
    inner.makepyfile(test_probe='''
        def test_probe(health_site):
            assert health_site.slugs == ["probe-source"]
            assert health_site.page("probe-source").section("Health").text.startswith("Health")
    ''')
    inner.runpytest(*plugin_args(), "--health-content", "elsewhere").assert_outcomes(passed=1)
    inner.makeini("[pytest]\nhealth_content = elsewhere\n")
    inner.runpytest(*plugin_args()).assert_outcomes(passed=1)


def test_site_is_built_once_per_session(inner):
    make_content(inner.path / "content")
    inner.makepyfile(test_once='''
        SEEN = []
        def test_a(health_site):
            SEEN.append(health_site.root)
        def test_b(health_site):
            SEEN.append(health_site.root)
            assert SEEN[0] == SEEN[1] and SEEN[0].name == "site"
    ''')
    inner.runpytest(*plugin_args()).assert_outcomes(passed=2)


def test_health_profile_option(inner):
    other = TIKTOK.replace("TikTok Ads France", "Northwind Probe").replace("profile: cyspera", "profile: northwind")
    make_content(inner.path / "content", {"tiktok-ads-france": TIKTOK, "northwind-probe": other})
    inner.makepyfile(test_profile='''
        def test_profile(health_site):
            assert health_site.slugs == ["northwind-probe"]
            assert health_site.json()["profile"] == "northwind"
    ''')
    inner.runpytest(*plugin_args(), "--health-profile", "northwind").assert_outcomes(passed=1)


def test_content_errors_fail_the_tests_with_every_problem(inner):
    make_content(inner.path / "content", {"broken": "name: Broken\nplatform: nowhere\nprofile: cyspera\nstatus: bad\n"})
    inner.makepyfile(test_broken='''
        def test_uses_site(health_site):
            pass
    ''')
    result = inner.runpytest(*plugin_args())
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*does not build*", "*broken.yaml:4:*"])


def test_health_build_factory(inner):
    make_content(inner.path / "variant")
    inner.makepyfile(test_factory='''
        def test_variant(health_build):
            site = health_build("variant")
            assert site.page("tiktok-ads-france").status == "healthy"
            assert site.index().section("All sources").rows[0]["Source"] == "TikTok Ads France"
    ''')
    inner.runpytest(*plugin_args()).assert_outcomes(passed=1)


def test_options_are_listed_in_help(inner):
    result = inner.runpytest(*plugin_args(), "--help")
    result.stdout.fnmatch_lines(["*--health-content=DIR*", "*--health-profile=NAME*", "*health_content*"])


def test_plugin_is_registered_as_an_entry_point():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    if sys.version_info >= (3, 11):
        import tomllib
        data = tomllib.loads(text)
        assert data["project"]["entry-points"]["pytest11"] == {"healthsite.pytest_plugin": "healthsite.pytest_plugin"}


# ---- the page helper, on the shipped site ----------------------------------------------------
def test_page_helper_on_the_seed_page(health_site):
    page = health_site.page("tiktok-ads-france")
    assert page.status == "healthy"
    assert page.section("External accounts").rows == [
        {"Account": "TikTok Ads - Cyspera FR (mapping unconfirmed)", "Masked ref": "tt_•••_fr", "Selected": "No"}]
    assert page.section("Technical status").facts["field_mapping_check_required"] == "Yes"
    assert page.section("Health").chips == ["healthy", "mapping_unconfirmed", "mapping_unconfirmed"]
    actions = page.section("Actions (preview only)").items
    assert all(item.chips == ["allowed"] for item in actions)
    assert actions[0].text == ('allowed Preview: "Reconnect" on "TikTok Ads France" — Re-run authorization to '
                               'restore the connection. (no execution).')
    assert page.section("Data quality").items[0].chips == ["INFO"]


def test_section_lookup(health_site):
    page = health_site.page("tiktok-ads-france")
    assert page.section("sync history").heading == "Sync history (preview)"  # case, prefix
    assert page.section("  External   accounts ").heading == "External accounts"
    assert page.has_section("Data quality") and not page.has_section("Nope")
    with pytest.raises(LookupError, match="the headings are"):
        page.section("Nope")
    with pytest.raises(LookupError, match="no health page"):
        health_site.page("no-such-source")


def test_table_helpers(health_site):
    table = health_site.page("tiktok-ads-france").section("Sync history").table
    assert table.headers[:6] == ["Status", "Fetched", "Processed", "Failed", "API version", "Error"]
    assert table.column("Fetched") == ["1000", "1000"]
    assert len(table) == 2
    with pytest.raises(KeyError):
        table.column("Nope")


def test_section_without_its_own_element(tmp_path):
    """A heading with no <section> of its own: the section runs to the next heading of its level."""
    from healthsite.pytest_plugin import Page
    html = tmp_path / "p.html"
    html.write_text("<html><body><main><h2>One</h2><p>first <span class='chip'>a</span></p>"
                    "<h3>Sub</h3><ul><li><span class='chip'>b</span> item</li></ul>"
                    "<h2>Two</h2><table><thead><tr><th>K</th><th>V</th></tr></thead>"
                    "<tbody><tr><th>x</th><td>1</td></tr></tbody></table></main></body></html>", encoding="utf-8")
    page = Page(html, "p.html")
    one = page.section("One")
    assert one.chips == ["a", "b"]
    assert [i.text for i in one.items] == ["b item"]
    assert page.section("Two").rows == [{"K": "x", "V": "1"}]
    assert page.section("Sub").text == "Sub b item"
