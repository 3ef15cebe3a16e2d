"""render: what a user sees on the health pages, the index, 404.html and sources.json."""
from __future__ import annotations

import json
from datetime import timezone
import re
import shutil
from pathlib import Path

import pytest

from healthsite import render

from .conftest import (FOREIGN_ACCOUNT_NAMES, FOREIGN_SOURCE, FOREIGN_TEXT, MINE, build, html_pages, soup_of,
                       squash, text_of, write_source, source_yaml)

TECH_LABELS = ["Enabled", "API version review", "schema_changed", "changelog_review_required",
               "field_mapping_check_required", "mapping status", "last successful sync"]
CATALOG_ACTIONS = [  # label, description (content/catalog/actions.yaml, copied into the fixture)
    ("Reconnect", "Re-run authorization to restore the connection."),
    ("Disable source", "Disable the source (data frozen, no hard delete in V1)."),
    ("Manual sync", "Trigger a one-off sync (preview only — no real job)."),
    ("Retry failed sync", "Retry the last failed/partial sync (preview only)."),
    ("Refresh metadata", "Refresh source metadata/structure (preview only)."),
    ("Field mapping check", "Review/validate field mapping (lifts unconfirmed)."),
    ("Acknowledge schema change", "Acknowledge a schema_changed warning."),
    ("Open sync history", "View the sync history for this source."),
    ("Open data quality", "Open the data quality view for this source's scope."),
]
ANTI_LEAK = "Anti-leak: only external accounts within the authorized Profile are shown; secrets are never displayed."
SYNC_FOOTER = "Preview only — no real job runs in this shell."


def flat(node) -> str:
    """Text as a reader sees it inline: no separator between inline tags, runs of space collapsed."""
    return re.sub(r"\s+", " ", node.get_text("")).strip()


def page(site: Path, slug: str):
    return soup_of(site / "sources" / f"{slug}.html")


def section(doc, heading: str):
    """The section whose h1/h2 reads heading."""
    for h in doc.find_all(["h1", "h2"]):
        if text_of(h) == heading:
            return h.find_parent("section")
    raise AssertionError(f"no section headed {heading!r}")


def actions(doc) -> list[tuple[str, str]]:
    """(state chip text, the rest of the line) for every action of the page."""
    out = []
    for li in section(doc, "Actions (preview only)").select("li"):
        chip = li.select_one(".chip")
        rest = flat(li)
        assert rest.startswith(chip.get_text()), rest
        out.append((chip.get_text(), rest[len(chip.get_text()):].strip()))
    return out


# ---- the health page --------------------------------------------------------------------------
def test_sections_in_seed_order(minimal_site):
    doc = page(minimal_site, "shopify-eu")
    text = squash(doc.body.get_text(""))
    steps = ["Mock data.", "Health", "Reconnection needed (preview).", "Status:action_required",
             "Authorization expired", "Technical status", "Enabled", "API version review", "schema_changed",
             "changelog_review_required", "field_mapping_check_required", "mapping status",
             "last successful sync", "Actions (preview only)", 'Preview:"Reconnect"', "Data quality",
             "Sync history (preview)", SYNC_FOOTER, "External accounts", "Account", "Masked ref", "Selected",
             ANTI_LEAK]
    pos = 0
    for step in steps:
        at = text.find(squash(step), pos)
        assert at >= 0, f"{step!r} missing or out of order"
        pos = at + len(squash(step))


def test_banner_is_rendered_markdown_on_every_page(minimal_site):
    for path in html_pages(minimal_site):
        doc = soup_of(path)
        banner = doc.select_one(".mock-banner")
        assert banner is not None, path
        assert banner.find("strong") and banner.find("strong").get_text() == "Mock data."
        assert "no DB write, no job." in flat(banner)
        assert "**" not in banner.get_text()


def test_health_heading_and_context(minimal_site):
    doc = page(minimal_site, "shopify-eu")
    h1 = doc.find("h1")
    assert text_of(h1) == "Health"
    health = h1.find_parent("section")
    assert "Reconnection needed (preview)." in [text_of(p) for p in health.find_all("p")]


def test_no_context_line_when_none_given(minimal_site):
    health = section(page(minimal_site, "ga4-pending"), "Health")
    assert not health.select(".context")


def test_status_badge_and_reason_chips(minimal_site):
    doc = page(minimal_site, "shopify-eu")
    line = doc.select_one(".status-line")
    assert flat(line) == "Status: action_required auth_expired rate_limited"
    badge = line.select_one(".badge")
    assert badge.get_text() == "action_required"  # the status is text, not only a colour
    assert [c.get_text() for c in line.select(".chip")] == ["auth_expired", "rate_limited"]


def test_reason_list_catalog_and_overridden_messages(minimal_site):
    items = section(page(minimal_site, "shopify-eu"), "Health").select("ul li")
    assert [flat(li) for li in items] == [
        "auth_expired Authorization expired — reconnect to resume syncing.",
        "rate_limited Overridden reason message for the fixture.",
    ]


@pytest.mark.parametrize("slug, values", [
    ("shopify-eu", ["Yes", "REQUIRED", "Yes", "Yes", "No", "partial", "2026-11-20 08:15 UTC"]),
    ("tiktok-ads-france", ["No", "NOT_REQUIRED", "No", "No", "Yes", "unconfirmed", "—"]),
])
def test_technical_status_labels_and_values(minimal_site, slug, values):
    tech = section(page(minimal_site, slug), "Technical status")
    assert [text_of(dt) for dt in tech.find_all("dt")] == TECH_LABELS
    assert [text_of(dd) for dd in tech.find_all("dd")] == values


def test_last_successful_sync_is_a_utc_time_element(minimal_site):
    tech = section(page(minimal_site, "shopify-eu"), "Technical status")
    time = tech.find_all("dd")[-1].find("time")
    assert time is not None
    assert time["datetime"] == "2026-11-20T08:15:00Z"
    assert "UTC" in time.get_text()
    # an unset one has no <time>
    tech = section(page(minimal_site, "tiktok-ads-france"), "Technical status")
    assert tech.find("time") is None


def test_actions_allowed_blocked_hidden(minimal_site):
    got = actions(page(minimal_site, "shopify-eu"))
    name = "Shopify EU Store"
    expected = []
    for label, description in CATALOG_ACTIONS:
        if label == "Retry failed sync":
            continue  # hidden: absent
        line = f'Preview: "{label}" on "{name}" — {description} (no execution).'
        if label == "Reconnect":
            expected.append(("blocked", line + " Blocked: An admin must approve the reconnection first."))
        else:
            expected.append(("allowed", line))
    assert got == expected
    assert "Retry failed sync" not in page(minimal_site, "shopify-eu").get_text()


def test_every_catalog_action_allowed_by_default(minimal_site):
    got = actions(page(minimal_site, "tiktok-ads-france"))
    assert got == [("allowed", f'Preview: "{label}" on "TikTok Ads France" — {description} (no execution).')
                   for label, description in CATALOG_ACTIONS]


def test_open_links_point_at_sections_that_exist(minimal_site):
    doc = page(minimal_site, "shopify-eu")
    links = {a.get_text(): a["href"] for a in section(doc, "Actions (preview only)").find_all("a")}
    assert links == {"Open sync history": "#sync-history", "Open data quality": "#data-quality"}
    sync = doc.find(id="sync-history")
    quality = doc.find(id="data-quality")
    assert sync is not None and "Sync history (preview)" in text_of(sync)
    assert quality is not None and "Data quality" in text_of(quality)


def test_data_quality_catalog_and_given_messages(minimal_site):
    items = section(page(minimal_site, "shopify-eu"), "Data quality").select("li")
    assert [flat(li) for li in items] == [
        "ERROR auth_expired No new data since the authorization expired.",
        "WARNING fixture_custom_issue A data-quality message given in the source file.",
    ]
    assert [li.select_one(".chip").get_text() for li in items] == ["ERROR", "WARNING"]


def test_empty_sections_say_so(minimal_site):
    doc = page(minimal_site, "ga4-pending")
    assert "No data-quality issues." in text_of(section(doc, "Data quality"))
    sync = section(doc, "Sync history (preview)")
    assert "No sync has run yet." in text_of(sync)
    assert SYNC_FOOTER in text_of(sync)
    assert "No external accounts in this profile." in text_of(section(doc, "External accounts"))


def test_sync_history_table(minimal_site):
    sync = section(page(minimal_site, "tiktok-ads-france"), "Sync history (preview)")
    table = sync.find("table")
    headers = table.select("thead th")
    assert [h.get_text() for h in headers] == ["Status", "Fetched", "Processed", "Failed", "API version", "Error"]
    assert all(h.get("scope") == "col" for h in headers)
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in table.select("tbody tr")]
    assert rows == [["completed", "1000", "1000", "0", "", ""]] * 2
    assert text_of(sync.find_all("p")[-1]) == SYNC_FOOTER


def test_sync_history_with_times_and_errors(minimal_site):
    table = section(page(minimal_site, "shopify-eu"), "Sync history (preview)").find("table")
    headers = [h.get_text() for h in table.select("thead th")]
    assert headers[:6] == ["Status", "Fetched", "Processed", "Failed", "API version", "Error"]
    first = table.select("tbody tr")[0]
    cells = [text_of(td) for td in first.find_all("td")]
    assert cells[:6] == ["failed", "500", "0", "500", "2026-10", "401 Unauthorized from the Admin API."]
    assert first.find("time")["datetime"] == "2026-11-21T09:00:00Z"


def test_external_accounts_table(minimal_site):
    accounts = section(page(minimal_site, "shopify-eu"), "External accounts")
    headers = accounts.select("thead th")
    assert [h.get_text() for h in headers] == ["Account", "Masked ref", "Selected"]
    assert all(h.get("scope") == "col" for h in headers)
    rows = [[text_of(td) for td in tr.find_all("td")] for tr in accounts.select("tbody tr")]
    assert rows == [["Shopify EU main store", "shp_•••_eu", "Yes"],
                    ["Legacy outlet (no prefix) (mapping partial)", "•••2345", "No"]]


def test_anti_leak_footer_on_every_page(minimal_site):
    for path in html_pages(minimal_site):
        footer = soup_of(path).find("footer")
        assert footer is not None and ANTI_LEAK in text_of(footer), path


def test_title_names_the_source(minimal_site):
    assert page(minimal_site, "shopify-eu").title.get_text().startswith("Shopify EU Store")


# ---- index, 404, sources.json -----------------------------------------------------------------
def index_rows(site: Path) -> dict[str, list]:
    """name -> [href, platform, status, reason chips, enabled, last successful sync, <tr>]."""
    doc = soup_of(site / "index.html")
    rows = {}
    for tr in doc.select("table tbody tr"):
        link = tr.find("a")
        cells = tr.find_all("td", recursive=False)
        assert len(cells) == 5, tr
        reasons = " ".join(chip.get_text() for chip in cells[2].select(".chip"))
        rows[link.get_text()] = [link["href"], text_of(cells[0]), text_of(cells[1]), reasons,
                                 text_of(cells[3]), text_of(cells[4]), tr]
    return rows


def test_index_lists_every_authorized_source(minimal_site):
    rows = index_rows(minimal_site)
    assert set(rows) == set(MINE.values())
    for slug, name in MINE.items():
        assert rows[name][0] == f"sources/{slug}.html"
        assert (minimal_site / rows[name][0]).is_file()
    href, platform, status, reasons, enabled, last, tr = rows["Shopify EU Store"]
    assert (platform, status, reasons, enabled, last) == (
        "Shopify", "action_required", "auth_expired rate_limited", "Yes", "2026-11-20 08:15 UTC")
    assert tr.find("time")["datetime"] == "2026-11-20T08:15:00Z"
    assert rows["TikTok Ads France"][1:6] == ["TikTok Ads", "healthy", "mapping_unconfirmed", "No", "—"]
    assert rows["GA4 Web Property"][1:6] == ["Google Analytics 4", "pending", "first_sync_pending", "Yes", "—"]


def test_index_headers(minimal_site):
    doc = soup_of(minimal_site / "index.html")
    headers = doc.select("table thead th")
    assert [h.get_text() for h in headers] == ["Source", "Platform", "Status", "Reasons", "Enabled",
                                               "last successful sync"]
    assert all(h.get("scope") == "col" for h in headers)


def test_index_counts_per_status(minimal_site):
    doc = soup_of(minimal_site / "index.html")
    counts = {li.select_one(".badge").get_text(): int(li.select_one(".count").get_text())
              for li in doc.select("ul.counts li")}
    assert counts == {"failing": 0, "action_required": 1, "degraded": 0, "pending": 1, "healthy": 1, "disabled": 0}
    assert text_of(doc.select_one(".summary")) == "3 sources · 1 action_required · 1 pending · 1 healthy"


def test_index_statuses_are_text(minimal_site):
    doc = soup_of(minimal_site / "index.html")
    for badge in doc.select(".badge"):
        assert badge.get_text().strip() in {"failing", "action_required", "degraded", "pending", "healthy",
                                            "disabled"}


def test_404_page(minimal_site):
    path = minimal_site / "404.html"
    assert path.is_file()
    doc = soup_of(path)
    assert text_of(doc.find("h1")) == "Page not found"
    assert doc.find("a", href="index.html") is not None


def test_assets_are_copied(minimal_site):
    assert (minimal_site / "assets" / "style.css").read_bytes() == (render.TEMPLATES / "assets" / "style.css").read_bytes()
    for path in html_pages(minimal_site):
        for link in soup_of(path).find_all("link", rel="stylesheet"):
            target = (path.parent / link["href"]).resolve()
            assert target.is_file(), (path, link["href"])


def test_sources_json(minimal_site):
    data = json.loads((minimal_site / "sources.json").read_text(encoding="utf-8"))
    assert data["format"] == "source-health-preview/sources"
    assert data["version"] == 1
    assert data["profile"] == "cyspera"
    assert {s["slug"] for s in data["sources"]} == set(MINE)
    assert sum(data["counts"].values()) == len(MINE)
    assert data["counts"]["failing"] == 0
    shop = next(s for s in data["sources"] if s["slug"] == "shopify-eu")
    assert shop["url"] == "sources/shopify-eu.html"
    assert [a["masked_ref"] for a in shop["external_accounts"]] == ["shp_•••_eu", "•••2345"]
    assert all(set(a) >= {"name", "masked_ref", "selected"} and "ref" not in a for a in shop["external_accounts"])
    assert shop["technical"]["last_successful_sync"] == "2026-11-20T08:15:00Z"
    text = (minimal_site / "sources.json").read_text(encoding="utf-8")
    for foreign in (FOREIGN_SOURCE[1], *FOREIGN_ACCOUNT_NAMES, "northwind"):
        assert foreign not in text


def test_other_profile_build(northwind_site):
    rows = index_rows(northwind_site)
    assert set(rows) == {FOREIGN_SOURCE[1]}
    assert not any((northwind_site / "sources" / f"{slug}.html").exists() for slug in MINE)
    doc = page(northwind_site, FOREIGN_SOURCE[0])
    accounts = [text_of(tr.find("td")) for tr in section(doc, "External accounts").select("tbody tr")]
    assert accounts == ["Northwind Meta Ad Account"]
    data = json.loads((northwind_site / "sources.json").read_text(encoding="utf-8"))
    assert data["profile"] == "northwind" and data["counts"]["failing"] == 1


# ---- safe rendering ---------------------------------------------------------------------------
HOSTILE_NAME = '<script>alert("name")</script> & <b>Bold</b>'
HOSTILE_NOTES = """\
Ordinary **notes**.

<script>alert("notes")</script>

[click me](javascript:alert(1)) and [data](data:text/html;base64,PHNjcmlwdD4=)

<img src="x" onerror="alert(2)">

<a href="page.html" onclick="alert(3)">handler</a>

<iframe src="evil.html"></iframe>
"""


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    from .conftest import MINIMAL, copy_content
    root = tmp_path_factory.mktemp("hostile")
    content = copy_content(MINIMAL, root / "content")
    site_yaml = content / "site.yaml"
    site_yaml.write_text(site_yaml.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    write_source(content, "hostile", source_yaml(
        name="'" + HOSTILE_NAME.replace("'", "''") + "'",
        status="degraded",
        extra=(
            "context: '<em>ctx</em> <script>x()</script>'\n"
            "reasons:\n"
            "  - code: rate_limited\n"
            "    message: '<img src=x onerror=alert(5)> reason'\n"
            "data_quality:\n"
            "  - severity: WARNING\n"
            "    code: odd_code\n"
            "    message: '<script>dq()</script>'\n"
            "sync_history:\n"
            "  - status: failed\n"
            "    fetched: 1\n"
            "    processed: 0\n"
            "    failed: 1\n"
            "    error: '<script>err()</script>'\n"
            "external_accounts:\n"
            "  - name: '<a href=\"javascript:alert(6)\">acct</a>'\n"
            "    ref: tt_55555555_zz\n"
            "    profile: cyspera\n"
            "notes: |\n" + "".join("  " + line + "\n" for line in HOSTILE_NOTES.splitlines())
        )))
    out = root / "site"
    build(content, out)
    return out


def test_html_in_content_is_escaped(hostile_site):
    doc = page(hostile_site, "hostile")
    assert doc.find("script") is None
    assert doc.find("b") is None and doc.find("em") is None
    # the content's <img src=x onerror=...> is text, not an element (the page's own images are fine)
    assert not [img for img in doc.find_all("img") if img.get("src") == "x"]
    assert not [el for el in doc.find_all(True) if any(a.lower().startswith("on") for a in el.attrs)]
    text = doc.get_text("")
    assert HOSTILE_NAME in text  # shown as text, exactly
    assert "<script>x()</script>" in text and "<script>dq()</script>" in text and "<script>err()</script>" in text
    assert "<img src=x onerror=alert(5)> reason" in text
    index = soup_of(hostile_site / "index.html")
    assert index.find("script") is None
    assert HOSTILE_NAME in index.get_text("")


def test_markdown_notes_are_sanitized(hostile_site):
    doc = page(hostile_site, "hostile")
    notes = section(doc, "Notes")
    assert notes.find("strong").get_text() == "notes"
    for tag in ("script", "img", "iframe"):
        assert notes.find(tag) is None, tag
    for el in doc.find_all(True):
        for attr, value in el.attrs.items():
            assert not attr.lower().startswith("on"), (el.name, attr)
            if attr in ("href", "src"):
                assert not value.strip().lower().startswith(("javascript:", "data:")), value
    raw = (hostile_site / "sources" / "hostile.html").read_text(encoding="utf-8").lower()
    assert "<script" not in raw
    assert 'href="javascript:' not in raw and "href='javascript:" not in raw
    assert 'href="data:' not in raw


def test_no_script_tag_on_any_page(hostile_site, minimal_site):
    for site in (hostile_site, minimal_site):
        for path in html_pages(site):
            assert soup_of(path).find("script") is None, path


@pytest.mark.parametrize("site_name", ["minimal_site", "hostile_site"])
def test_every_page_has_a_csp_meta(request, site_name):
    site = request.getfixturevalue(site_name)
    for path in html_pages(site):
        meta = soup_of(path).find("meta", attrs={"http-equiv": "Content-Security-Policy"})
        assert meta is not None, path
        policy = meta["content"]
        assert "default-src 'none'" in policy
        assert "script-src" not in policy or "'unsafe-inline'" not in policy


def test_every_link_is_relative(minimal_site):
    for path in html_pages(minimal_site):
        doc = soup_of(path)
        for el in doc.find_all(attrs={"href": True}) + doc.find_all(attrs={"src": True}):
            value = el.get("href") or el.get("src")
            assert not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", value), (path, value)
            assert not value.startswith("/"), (path, value)
            assert not value.endswith("/"), (path, value)  # no directory URLs: file:// browsing works
            if not value.startswith("#"):
                target = (path.parent / value.split("#")[0]).resolve()
                assert target.is_file(), (path, value)


def test_no_request_to_another_origin(minimal_site):
    for path in html_pages(minimal_site):
        doc = soup_of(path)
        for el in doc.find_all(["link", "img", "script", "iframe", "source", "video", "audio"]):
            for attr in ("href", "src"):
                value = el.get(attr)
                if value:
                    assert "//" not in value, (path, value)


def test_render_never_sees_a_raw_ref(minimal_site):
    """The foreign profile's text is nowhere in the output (see test_verify for every byte)."""
    for path in html_pages(minimal_site):
        text = path.read_text(encoding="utf-8")
        for foreign in (FOREIGN_SOURCE[1], *FOREIGN_ACCOUNT_NAMES, *FOREIGN_TEXT):
            assert foreign not in text, (path, foreign)


def test_markdown_filter_strips_dangerous_html():
    html = str(render.markdown_html('<script>a()</script>[x](javascript:b()) <img src=x onerror="c()"> **ok**'))
    assert "<script" not in html and "javascript:" not in html and "onerror" not in html
    assert "<strong>ok</strong>" in html
    assert str(render.markdown_html(None)) == ""


def test_csp_meta_comes_before_any_style_and_allows_inline_styles_by_hash(minimal_site):
    import base64
    import hashlib
    for path in html_pages(minimal_site):
        doc = soup_of(path)
        head = doc.head
        tags = [t for t in head.find_all(True)]
        meta = head.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
        first_style = next((i for i, t in enumerate(tags) if t.name in ("style", "link")), len(tags))
        assert tags.index(meta) < first_style, path  # a CSP meta only covers what comes after it
        policy = meta["content"]
        for style in doc.find_all("style"):
            digest = base64.b64encode(hashlib.sha256(style.string.encode("utf-8")).digest()).decode()
            assert f"'sha256-{digest}'" in policy, (path, "inline style not allowed by the CSP: unstyled page")
        if "'unsafe-inline'" not in policy:
            assert not doc.select("[style]"), (path, "style attribute blocked by the CSP")


# ---- the fast escaping path: the same bytes as Jinja's own autoescape -------------------------
from hypothesis import given, strategies as st  # noqa: E402
from markupsafe import Markup, escape  # noqa: E402


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.none(), st.booleans(),
                 st.text().map(Markup)))
def test_fast_escape_writes_what_markupsafe_escape_writes(value):
    assert render._esc(value) == str(escape(value))


def test_templates_escape_every_value_the_way_jinja_does():
    """The environment's code generator writes values through render._esc; a stock Jinja
    environment with autoescape must write the very same page."""
    import jinja2
    source = ('{% macro m(x) %}<b>{{ x }}</b>{% endmacro %}<p title="{{ a }}">{{ a }} {{ b }} {{ m(a) }} '
              '{{ c }} {{ n }} {% autoescape false %}{{ a }}{% endautoescape %} {{ a|safe }}</p>')
    values = {"a": "<script>alert('x') & \"y\"</script>", "b": Markup("<i>ok</i>"), "c": None, "n": 3.5}
    ours = render.make_environment().from_string(source).render(**values)
    stock = jinja2.Environment(autoescape=True).from_string(source).render(**values)
    assert ours == stock
    assert ours.startswith('<p title="&lt;script&gt;alert(&#39;x&#39;) &amp; &#34;y&#34;&lt;/script&gt;">')


def test_compiled_templates_write_what_stock_jinja_writes(tmp_path):
    """The code generator's shortcuts (blocks buffered, attributes looked up first with getattr,
    render.py's own globals called directly, str values escaped in place) change nothing a
    template writes: inheritance, super(), includes in blocks, a dict's key as an attribute,
    undefined attributes tested or defaulted, macros, context functions, nested calls."""
    import jinja2
    (tmp_path / "base.html").write_text(
        "<title>{% block title %}T{% endblock %}</title>{% block body %}{% endblock %}|{{ d.key }}")
    (tmp_path / "part.html").write_text("[{{ a }} {{ chip(a, 'x') }}]")
    (tmp_path / "page.html").write_text(
        '{% extends "base.html" %}{% block title %}{{ super() }}·{{ o.name }}{% endblock %}'
        '{% block body %}{% macro m(x, y=1) %}<b>{{ x }}{{ y }}</b>{% endmacro %}'
        '{{ a }} {{ d.key }} {{ d.nope is defined }} {{ o.nope|default("dflt") }} {{ o.inner.name }} '
        '{{ m(a) }} {{ m(a, y=chip(a, "t")) }} {{ ctx_fn() }} {{ chip(status_badge(a), yes_no(o.flag, labels)) }} '
        '{{ lam(a) }} {% for r in rows %}{{ loop.index }}{{ chip(r, r) }}{{ lam(r) }}{% endfor %}'
        '{% include "part.html" %}{{ n }} {{ b }}{% endblock %}')

    class Thing:
        name = "<thing>"
        flag = True
        inner = None

    thing = Thing()
    thing.inner = Thing()
    labels = type("L", (), {"yes": "Yes", "no": "No"})()
    values = {"a": "<a & 'b'>", "d": {"key": "k<v>"}, "o": thing, "rows": ["r1", "<r2>"], "n": 3, "b": Markup("<i>x</i>"),
              "lam": lambda x: f"λ{x}", "labels": labels,
              "ctx_fn": jinja2.pass_context(lambda context: context["a"] + "!")}
    ours_env = render.make_environment(tmp_path)
    stock = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path)), autoescape=True,
                               undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                               keep_trailing_newline=True)
    stock.globals.update(ours_env.globals)
    stock.filters.update(ours_env.filters)
    ours = ours_env.get_template("page.html").render(**values)
    assert ours == stock.get_template("page.html").render(**values)
    assert "k&lt;v&gt;" in ours and "dflt" in ours and "λ&lt;r2&gt;" in ours and "[&lt;a &amp; &#39;b&#39;&gt;" in ours
    with pytest.raises(jinja2.UndefinedError):  # an undefined attribute printed is still an error
        ours_env.from_string("{{ o.nope }}").render(o=thing)


@given(st.datetimes(timezones=st.just(timezone.utc)),
       st.lists(st.sampled_from(["%Y", "%y", "%m", "%d", "%e", "%H", "%M", "%S", "%j", "%b", "%B", "%a", "%A",
                                 "%%", "%I", "%p", "%Z", "%", " ", "T", "-", ":", "UTC", "{x}", "'", "%s", "é"]),
                max_size=8).map("".join))
def test_strftime_writes_what_datetime_strftime_writes(value, fmt):
    assert render.strftime(value, fmt) == value.strftime(fmt)
    assert render._iso(value) == value.strftime("%Y-%m-%dT%H:%M:%SZ")


@given(st.lists(st.sampled_from(["{run}", "{series}", "{value}", "{other}", "{", "}", "{{run}}", "a", " ", "%s", "'", '"',
                                 "\\", "P[0]", "a0", "é"]), max_size=10).map("".join),
       st.one_of(st.text(max_size=5), st.integers()), st.text(max_size=5), st.integers())
def test_fill_and_filler_put_values_into_placeholders(template, run, series, value):
    """fill, and filler (a label parsed once, as the chart fills its bar titles), put str(value)
    for each {name} given and leave any other placeholder as written."""
    values = {"run": run, "series": series, "value": value}
    expected = re.sub(r"\{([a-z_]+)\}", lambda m: str(values[m[1]]) if m[1] in values else m[0], template)
    assert render.filler(template, ("run", "series", "value"))(run, series, value) == expected
    assert render.fill(template, **values) == expected


@pytest.mark.parametrize("name", ["Plain Name", "Name with the marker {mark} in it", "{mark}{mark}"])
def test_dashboard_rows_are_the_rows_made_with_each_root(name, monkeypatch):
    """Renderer.rows makes a row once with a stand-in for the root; the rows are the ones the
    macro makes with "" and "../", even when a name holds the stand-in itself."""
    from healthsite.views import PlatformView, ReasonView, SourceView, TechnicalView
    mark = render._ROOT_MARK
    source = SourceView(slug="s1", name=name.format(mark=mark), platform=PlatformView("tiktok_ads", "TikTok Ads", "OAuth"),
                        context=None, status="degraded", reasons=(ReasonView("rate_limited", "WARNING", "Slow <down>"),),
                        technical=TechnicalView(True, "NOT_REQUIRED", False, False, False, "confirmed", None),
                        actions=(), data_quality=(), runs=(), accounts=(), notes=None)
    renderer = render.Renderer()
    labels = render.Labels({"no_reasons": "None", "never": "never", "yes": "Yes", "no": "No"})
    shell = type("Shell", (), {"labels": labels})()
    macro = renderer.env.get_template("macros.html").module.source_row
    expected = (str(macro(source, "", labels)).strip(), str(macro(source, "../", labels)).strip())
    assert renderer.rows(shell, source) == expected
    assert 'href="sources/s1.html"' in expected[0] and 'href="../sources/s1.html"' in expected[1]


@pytest.mark.parametrize("use", ["{{ root or './' }}", "{% if root %}{{ root }}{% endif %}", "{{ root|upper }}",
                                 "{% set root = root ~ 'x/' %}{{ root }}", "{{ root }}"])
def test_dashboard_rows_from_a_template_that_does_more_with_root(use, tmp_path):
    """A source_row that tests, filters or sets its root is made with each root, not with a
    stand-in put in afterwards: the rows are what the macro makes with "" and "../"."""
    from healthsite.views import PlatformView, SourceView, TechnicalView
    templates = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES, templates)
    macros = templates / "macros.html"
    text = macros.read_text(encoding="utf-8")
    assert text.count('href="{{ root }}sources/') == 1
    macros.write_text(text.replace('href="{{ root }}sources/', f'href="{use}sources/'), encoding="utf-8")
    source = SourceView(slug="s1", name="Plain", platform=PlatformView("tiktok_ads", "TikTok Ads", "OAuth"),
                        context=None, status="healthy", reasons=(),
                        technical=TechnicalView(True, "NOT_REQUIRED", False, False, False, "confirmed", None),
                        actions=(), data_quality=(), runs=(), accounts=(), notes=None)
    renderer = render.Renderer(templates)
    labels = render.Labels({"no_reasons": "None", "never": "never", "yes": "Yes", "no": "No"})
    shell = type("Shell", (), {"labels": labels})()
    macro = renderer.env.get_template("macros.html").module.source_row
    expected = (str(macro(source, "", labels)).strip(), str(macro(source, "../", labels)).strip())
    assert renderer.rows(shell, source) == expected
