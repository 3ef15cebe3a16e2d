"""The whole build: the promises that span stages (profile, secrets, nothing lost, determinism)."""
from __future__ import annotations

import json
import re

import pytest

from healthsite import pipeline, render
from healthsite.problems import ContentError

from .conftest import (FOREIGN_ACCOUNT_NAMES, FOREIGN_SOURCE, FOREIGN_TEXT, MINE, OTHER, RAW_REFS, build,
                       output_files, soup_of, source_yaml, text_of, tree_hash, write_source)


def test_build_result(tmp_path, content):
    result = build(content, tmp_path / "site")
    assert result.profile == "cyspera"
    assert result.sources == len(MINE)
    files = output_files(tmp_path / "site")
    assert result.files == len(files)
    assert result.pages == sum(1 for p in files if p.suffix == ".html")
    for name in ("index.html", "404.html", "sources.json", "assets/style.css"):
        assert (tmp_path / "site" / name).is_file(), name
    for slug in MINE:
        assert (tmp_path / "site" / "sources" / f"{slug}.html").is_file()


def test_check_writes_nothing(tmp_path, content):
    before = tree_hash(tmp_path)
    resolved = pipeline.check(content)
    assert len(resolved.site.sources) == len(MINE)
    assert tree_hash(tmp_path) == before


# ---- authorized profile -----------------------------------------------------------------------
def test_nothing_of_another_profile_in_any_output_byte(minimal_site):
    assert not (minimal_site / "sources" / f"{FOREIGN_SOURCE[0]}.html").exists()
    for path in output_files(minimal_site):
        data = path.read_bytes()
        for text in (FOREIGN_SOURCE[0], FOREIGN_SOURCE[1], *FOREIGN_ACCOUNT_NAMES, *FOREIGN_TEXT, *RAW_REFS):
            assert text.encode() not in data, (path, text)


def test_counts_leave_out_other_profiles(minimal_site):
    data = json.loads((minimal_site / "sources.json").read_text(encoding="utf-8"))
    assert sum(data["counts"].values()) == len(MINE) == len(data["sources"])
    summary = text_of(soup_of(minimal_site / "index.html").select_one(".summary"))
    assert summary.startswith(f"{len(MINE)} sources")
    assert "failing" not in summary  # the one failing source is Northwind's


def test_other_profile_when_asked(northwind_site):
    data = json.loads((northwind_site / "sources.json").read_text(encoding="utf-8"))
    assert data["profile"] == OTHER
    assert [s["slug"] for s in data["sources"]] == [FOREIGN_SOURCE[0]]
    for path in output_files(northwind_site):
        text = path.read_bytes()
        for slug, name in MINE.items():
            assert name.encode() not in text, (path, name)
        for ref in RAW_REFS:
            assert ref.encode() not in text, (path, ref)
        assert b"Northwind Borrowed Storefront" not in text  # its account, but on a Cyspera source


def test_account_of_another_profile_on_an_authorized_source_is_dropped(minimal_site):
    rows = soup_of(minimal_site / "sources" / "shopify-eu.html").select("table.accounts tbody tr")
    names = [text_of(r.find("td")) for r in rows]
    assert len(names) == 2 and not any("Northwind" in n for n in names)


def test_foreign_source_named_like_a_platform_does_not_break_the_build(tmp_path, content):
    """Another profile's source may share its name with text the authorized site shows anyway
    (here a platform's display name): that is no leak, and the build must not fail on it."""
    path = content / "sources" / f"{FOREIGN_SOURCE[0]}.yaml"
    text = path.read_text(encoding="utf-8")
    # "Google Analytics 4" is the platform name the GA4 source's page and the index show.
    path.write_text(text.replace(f"name: {FOREIGN_SOURCE[1]}", "name: Google Analytics 4"), encoding="utf-8")
    out = tmp_path / "site"
    result = build(content, out)
    assert result.sources == len(MINE)
    assert not (out / "sources" / f"{FOREIGN_SOURCE[0]}.html").exists()


# ---- no secrets -------------------------------------------------------------------------------
SECRETS = [
    ("client_secret", "external_accounts:\n  - name: A\n    ref: tt_123456789_fr\n    profile: cyspera\n"
                      "    client_secret: abcdef123456\n", 11, "abcdef123456"),
    ("token", "notes: fine\ntoken: plain-value-here\n", 8, "plain-value-here"),
    ("shpat", "notes: 'see shpat_0123456789abcdef0123456789abcdef'\n", 7, "shpat_0123456789abcdef0123456789abcdef"),
    ("ghp", "context: ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n", 7, "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
    ("stripe", "reasons:\n  - code: rate_limited\n    message: key sk_live_51Habcdefghijklmnop\n", 9,
     "sk_live_51Habcdefghijklmnop"),
    ("aws", "external_accounts:\n  - name: A\n    ref: AKIAIOSFODNN7EXAMPLE\n    profile: cyspera\n", 9,
     "AKIAIOSFODNN7EXAMPLE"),
    ("jwt", "notes: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\n",
     7, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
]


@pytest.mark.parametrize("case, extra, line, secret", SECRETS, ids=[c[0] for c in SECRETS])
def test_secret_in_content_is_a_build_error_naming_file_and_line(tmp_path, content, case, extra, line, secret):
    out = tmp_path / "site"
    build(content, out)
    before = tree_hash(out)
    write_source(content, "leaky", source_yaml(extra=extra))
    with pytest.raises(ContentError) as info:
        build(content, out)
    mine = [p for p in info.value.problems if p.path.endswith("leaky.yaml")]
    assert any(p.line == line for p in mine), [str(p) for p in mine]
    assert secret not in str(info.value)
    assert tree_hash(out) == before


def test_secret_in_site_yaml(tmp_path, content):
    site = content / "site.yaml"
    site.write_text(site.read_text(encoding="utf-8") + "api_key: abc123abc123\n", encoding="utf-8")
    with pytest.raises(ContentError) as info:
        pipeline.check(content)
    assert any(p.path.endswith("site.yaml") and "credential" in p.message for p in info.value.problems)
    assert "abc123abc123" not in str(info.value)


def test_masked_form_in_content_is_not_a_secret(tmp_path, content):
    write_source(content, "masked-note", source_yaml(extra="notes: The ref shows as tt_•••_fr or •••7890.\n"))
    build(content, tmp_path / "site")
    assert "tt_•••_fr" in (tmp_path / "site" / "sources" / "masked-note.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("slug, extra", [
    ("desk-booking-analytics-france", ""),                         # "sk-" inside a word
    ("task-scheduler-for-weekly-reports", ""),
    ("network-probe", "data_quality:\n  - severity: INFO\n    code: network_test_failures\n"
                      "    message: Ordinary words, not a Stripe key.\n"),  # "rk_test_" inside a word
    ("kiosk-notes", "notes: Kiosk screens run the desk-booking-analytics-dashboard-v2 app.\n"),
], ids=["slug-desk", "slug-task", "code-network-test", "notes-kiosk"])
def test_ordinary_words_are_not_secrets(tmp_path, content, slug, extra):
    """Token shapes start at a word boundary: a slug, code or note made of ordinary words builds."""
    write_source(content, slug, source_yaml(extra=extra))
    result = build(content, tmp_path / "site")
    assert (tmp_path / "site" / "sources" / f"{slug}.html").is_file()
    assert result.sources == len(MINE) + 1


# ---- nothing lost -----------------------------------------------------------------------------
def _break_content(content):
    write_source(content, "broken", source_yaml(status="grand"))


def _break_render(content):
    labels = content / "catalog" / "labels.yaml"
    text = labels.read_text(encoding="utf-8")
    new = re.sub(r"(?m)^technical_status:.*\n", "", text)
    assert new != text
    labels.write_text(new, encoding="utf-8")


@pytest.mark.parametrize("breaker, error", [(_break_content, ContentError), (_break_render, render.RenderError)],
                         ids=["content-error", "render-error"])
def test_failing_build_leaves_previous_output_byte_identical(tmp_path, content, breaker, error):
    out = tmp_path / "site"
    build(content, out)
    before = tree_hash(out)
    siblings = sorted(p.name for p in tmp_path.iterdir())
    breaker(content)
    with pytest.raises(error):
        build(content, out)
    assert tree_hash(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings


def test_failing_first_build_creates_nothing(tmp_path, content):
    _break_render(content)
    with pytest.raises(render.RenderError):
        build(content, tmp_path / "site")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content"]


def test_failing_build_into_a_new_nested_folder_creates_nothing(tmp_path, content):
    """A build never writes outside its output folder: a failed one leaves no parent folders behind."""
    _break_render(content)
    with pytest.raises(render.RenderError):
        build(content, tmp_path / "new" / "deeper" / "site")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content"]


def test_content_error_into_a_new_folder_creates_nothing(tmp_path, content):
    _break_content(content)
    with pytest.raises(ContentError):
        build(content, tmp_path / "new" / "site")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content"]


# ---- deterministic ----------------------------------------------------------------------------
def test_two_builds_are_byte_identical(tmp_path, content, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "nested" / "b"
    build(content, a)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    build(content, b)
    assert tree_hash(a) == tree_hash(b)
    build(content, a)
    assert tree_hash(a) == tree_hash(b)


def test_output_does_not_depend_on_source_file_order(tmp_path, content):
    a = tmp_path / "a"
    build(content, a)
    first = tree_hash(a)
    # Rewrite every source file (new mtimes, new inode order): same bytes out.
    for path in sorted((content / "sources").iterdir(), reverse=True):
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data)
    build(content, a)
    assert tree_hash(a) == first
