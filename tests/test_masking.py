"""Masking: the raw ref never leaves resolve; the mask never reveals the ref's length."""
from __future__ import annotations

import pytest

from healthsite.masking import MASK, mask_ref

from .conftest import RAW_REFS, build, output_files, soup_of, source_yaml, text_of, write_source


@pytest.mark.parametrize("ref, prefix, expected", [
    ("tt_7123456789_fr", "tt_", "tt_•••_fr"),
    ("shp_99887766554_eu", "shp_", "shp_•••_eu"),
    ("act_1234567890-de", "act_", "act_•••-de"),
    ("gads_123-456-7890_main", "gads_", "gads_•••_main"),
    ("legacyoutlet12345", "shp_", "•••2345"),      # no prefix: at most the last 4 characters
    ("tt_12345678901234", "tt_", "•••1234"),        # prefix but no last segment
    ("tt_1_fr", "tt_", "•••"),                       # shorter than 8
    ("abc", "tt_", "•••"),
    ("1234567", "", "•••"),
])
def test_mask_forms(ref, prefix, expected):
    assert mask_ref(ref, prefix) == expected


def test_mask_width_is_fixed():
    assert MASK == "•••"
    short, long = mask_ref("tt_71234_fr", "tt_"), mask_ref("tt_71234567890123456789_fr", "tt_")
    assert short == long == "tt_•••_fr"
    a, b = mask_ref("zz" + "9" * 10, "tt_"), mask_ref("zz" + "9" * 40, "tt_")
    assert len(a) == len(b)


@pytest.mark.parametrize("ref", ["tt_7123456789_fr", "x" * 50, "12345678", "ab_cd_ef_gh_ij_kl"])
def test_mask_shows_at_most_four_characters_beyond_the_prefix(ref):
    masked = mask_ref(ref, "tt_")
    visible = masked.replace(MASK, "").removeprefix("tt_")
    assert len(visible) <= 4 + 1  # the last segment with its separator, or the last 4 characters
    assert ref not in masked


def test_masked_ref_shown_in_the_accounts_table(minimal_site):
    page = soup_of(minimal_site / "sources" / "tiktok-ads-france.html")
    cells = [text_of(td) for td in page.select("table.accounts tbody td")]
    assert cells == ["TikTok Ads - Cyspera FR (mapping unconfirmed)", "tt_•••_fr", "No"]


def test_no_raw_ref_in_any_output_byte(minimal_site, northwind_site):
    for site in (minimal_site, northwind_site):
        files = output_files(site)
        assert len(files) >= 5
        for path in files:
            data = path.read_bytes()
            for ref in RAW_REFS:
                assert ref.encode() not in data, f"{ref} in {path}"


def test_refs_of_different_length_same_shape_mask_alike(content, tmp_path):
    write_source(content, "two-refs", source_yaml(extra="""
        external_accounts:
          - name: Short ref account
            ref: tt_71234_de
            profile: cyspera
          - name: Long ref account
            ref: tt_712345678901234567_de
            profile: cyspera
    """))
    out = tmp_path / "site"
    build(content, out)
    rows = soup_of(out / "sources" / "two-refs.html").select("table.accounts tbody tr")
    masks = [text_of(r.select("td")[1]) for r in rows]
    assert masks == ["tt_•••_de", "tt_•••_de"]
    data = b"".join(p.read_bytes() for p in output_files(out))
    assert b"tt_71234_de" not in data and b"tt_712345678901234567_de" not in data


def test_short_raw_ref_is_masked_everywhere(content, tmp_path):
    write_source(content, "short-ref", source_yaml(extra="""
        external_accounts:
          - name: Tiny ref account
            ref: zq7x
            profile: cyspera
    """))
    out = tmp_path / "site"
    build(content, out)
    page = soup_of(out / "sources" / "short-ref.html")
    assert text_of(page.select("table.accounts tbody td")[1]) == "•••"
    for path in output_files(out):
        assert b"zq7x" not in path.read_bytes(), path
