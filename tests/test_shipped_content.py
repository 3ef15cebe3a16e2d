"""The shipped content: valid, varied, and with another profile that a default build hides."""
from __future__ import annotations

import json

import pytest

from healthsite import pipeline
from healthsite.load import load
from healthsite.models import STATUSES

from .conftest import SHIPPED, build, output_files, soup_of


@pytest.fixture(scope="module")
def loaded():
    return load(SHIPPED)


@pytest.fixture(scope="module")
def resolved():
    return pipeline.check(SHIPPED)  # raises ContentError on any error


@pytest.fixture(scope="module")
def shipped_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("shipped-content") / "site"
    build(SHIPPED, out)
    return out


def test_check_has_no_errors(resolved):
    assert resolved.site.profile_id


def test_at_least_12_authorized_sources(resolved):
    assert len(resolved.site.sources) >= 12, [s.slug for s in resolved.site.sources]


def test_at_least_5_platforms(resolved):
    assert len({s.platform.id for s in resolved.site.sources}) >= 5


def test_every_status_at_least_once(resolved):
    assert {s.status for s in resolved.site.sources} == set(STATUSES)


def test_the_seed_source_is_shipped(resolved):
    assert "tiktok-ads-france" in {s.slug for s in resolved.site.sources}


def test_another_profile_is_shipped_and_hidden(loaded, resolved, shipped_site):
    authorized = resolved.site.profile_id
    foreign = [s for s in loaded.sources if s.model.profile != authorized]
    assert foreign, "no source of another profile in content/sources"
    index = soup_of(shipped_site / "index.html").get_text(" ")
    data = json.loads((shipped_site / "sources.json").read_text(encoding="utf-8"))
    assert {s["slug"] for s in data["sources"]} == {s.slug for s in resolved.site.sources}
    for source in foreign:
        assert not (shipped_site / "sources" / f"{source.slug}.html").exists()
        assert source.model.name not in index
    names = [s.model.name.encode() for s in foreign]
    refs = [a.ref.encode() for s in loaded.sources for a in s.model.external_accounts]
    for path in output_files(shipped_site):
        data_bytes = path.read_bytes()
        for needle in names + refs:
            assert needle not in data_bytes, (path, needle)


def test_other_profile_builds(loaded, resolved, tmp_path):
    other = next(s.model.profile for s in loaded.sources if s.model.profile != resolved.site.profile_id)
    result = build(SHIPPED, tmp_path / "site", profile=other)
    assert result.profile == other
    assert result.sources == sum(1 for s in loaded.sources if s.model.profile == other)


def test_every_authorized_source_has_a_page(resolved, shipped_site):
    for source in resolved.site.sources:
        assert (shipped_site / "sources" / f"{source.slug}.html").is_file()
