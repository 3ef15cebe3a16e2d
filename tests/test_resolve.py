"""resolve: catalog look-ups, the authorized-profile filter, masking into view models, lint."""
from __future__ import annotations

import dataclasses

import pytest

from healthsite import pipeline
from healthsite.load import load
from healthsite.problems import ContentError
from healthsite.resolve import resolve

from .conftest import FOREIGN_ACCOUNT_NAMES, FOREIGN_SOURCE, MINE, RAW_REFS, source_yaml, write_source


def cross_errors(content_dir):
    with pytest.raises(ContentError) as info:
        pipeline.check(content_dir)
    return [p for p in info.value.problems if p.severity == "error"]


def walk(value):
    """Every scalar reachable from a view model."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from walk(getattr(value, f.name))
    elif isinstance(value, (tuple, list, frozenset, set)):
        for item in value:
            yield from walk(item)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from walk(v)
    else:
        yield value


def test_view_holds_only_the_authorized_profile(content):
    resolved = resolve(load(content))
    view = resolved.site
    assert view.profile_id == "cyspera"
    assert {s.slug for s in view.sources} == set(MINE)
    text = "\n".join(str(v) for v in walk(view.sources))
    for ref in RAW_REFS:
        assert ref not in text
    for name in (FOREIGN_SOURCE[1], *FOREIGN_ACCOUNT_NAMES):
        assert name not in text


def test_view_with_profile_override(content):
    view = resolve(load(content), "northwind").site
    assert [s.slug for s in view.sources] == [FOREIGN_SOURCE[0]]
    assert view.profile_name == "Northwind Retail"


def test_sources_in_severity_order(content):
    view = resolve(load(content)).site
    assert [s.status for s in view.sources] == ["action_required", "pending", "healthy"]


def test_catalog_messages_and_overrides(content):
    view = resolve(load(content)).site
    shop = next(s for s in view.sources if s.slug == "shopify-eu")
    assert [(r.code, r.severity, r.message) for r in shop.reasons] == [
        ("auth_expired", "ERROR", "Authorization expired — reconnect to resume syncing."),
        ("rate_limited", "WARNING", "Overridden reason message for the fixture."),
    ]
    assert [(d.code, d.message) for d in shop.data_quality] == [
        ("auth_expired", "No new data since the authorization expired."),
        ("fixture_custom_issue", "A data-quality message given in the source file."),
    ]
    states = {a.id: (a.state, a.reason) for a in shop.actions}
    assert states["reconnect"] == ("blocked", "An admin must approve the reconnection first.")
    assert "retry_failed_sync" not in states  # hidden
    assert states["manual_sync"] == ("allowed", None)
    assert [a.masked_ref for a in shop.accounts] == ["shp_•••_eu", "•••2345"]


def test_canaries_hold_every_raw_ref_and_foreign_names(content):
    canaries = resolve(load(content)).canaries
    assert set(RAW_REFS) <= canaries.refs
    assert FOREIGN_SOURCE[1] in canaries.foreign_names
    assert set(FOREIGN_ACCOUNT_NAMES) <= canaries.foreign_names
    assert not (set(MINE.values()) & canaries.foreign_names)


@pytest.mark.parametrize("yaml_text, line, needle", [
    (source_yaml(platform="myspace"), 2, "unknown platform 'myspace'"),
    (source_yaml(profile="nobody"), 3, "unknown profile 'nobody'"),
    (source_yaml(extra="reasons:\n  - mapping_unconfirmed\n  - not_a_reason\n"), 9, "unknown reason code 'not_a_reason'"),
    (source_yaml(extra="actions:\n  - id: launch_rockets\n"), 8, "unknown action 'launch_rockets'"),
    (source_yaml(extra="actions:\n  - id: reconnect\n  - id: reconnect\n"), 9, "action 'reconnect' is set twice"),
    (source_yaml(extra="external_accounts:\n  - name: A\n    ref: tt_123456789_fr\n    profile: ghost\n"), 10,
     "unknown profile 'ghost'"),
    (source_yaml(extra="data_quality:\n  - severity: INFO\n    code: no_such_code\n"), 9, "unknown data-quality code"),
])
def test_cross_file_errors_with_their_line(content, yaml_text, line, needle):
    write_source(content, "probe", yaml_text)
    found = [p for p in cross_errors(content) if p.path.endswith("probe.yaml")]
    assert len(found) == 1, found
    assert found[0].line == line
    assert needle in found[0].message


def test_all_cross_file_errors_in_one_run(content):
    write_source(content, "probe-a", source_yaml(platform="myspace"))
    write_source(content, "probe-b", source_yaml(profile="nobody", extra="reasons:\n  - nope\n"))
    found = cross_errors(content)
    assert len([p for p in found if p.path.endswith("probe-a.yaml")]) == 1
    assert len([p for p in found if p.path.endswith("probe-b.yaml")]) == 2


def test_schema_and_cross_file_errors_in_one_run(content):
    """Every error in every file, in one run: a file with an unknown key must not hide another
    file's unknown platform until the next run."""
    write_source(content, "schema-bad", source_yaml(extra="colour: red\n"))
    write_source(content, "catalog-bad", source_yaml(platform="myspace"))
    found = cross_errors(content)
    assert any(p.path.endswith("schema-bad.yaml") and "unknown key 'colour'" in p.message for p in found)
    assert any(p.path.endswith("catalog-bad.yaml") and "unknown platform 'myspace'" in p.message for p in found), \
        [str(p) for p in found]


# ---- lint -------------------------------------------------------------------------------------
LINT_CASES = {
    "healthy-failed-sync": (source_yaml(status="healthy", extra="""
        sync_history:
          - status: failed
            fetched: 10
            processed: 0
            failed: 10
            error: boom
    """), "last sync is failed"),
    "counts-too-big": (source_yaml(extra="""
        sync_history:
          - status: partial
            fetched: 10
            processed: 8
            failed: 5
    """), "more than fetched"),
    "completed-no-last-success": (source_yaml(extra="""
        sync_history:
          - status: completed
            fetched: 10
            processed: 10
            failed: 0
    """), "no last successful sync"),
}


@pytest.mark.parametrize("slug", sorted(LINT_CASES))
def test_lint_warnings(content, slug):
    text, needle = LINT_CASES[slug]
    write_source(content, slug, text)
    resolved = pipeline.check(content)
    mine = [w for w in resolved.warnings if w.path.endswith(f"{slug}.yaml")]
    assert any(needle in w.message for w in mine), [str(w) for w in mine]
    assert all(w.severity == "warning" for w in mine)
    assert all(str(w).split(": ", 1)[1].startswith("warning: ") for w in mine)
    with pytest.raises(ContentError) as info:
        pipeline.check(content, strict=True)
    assert any(p.path.endswith(f"{slug}.yaml") and needle in p.message and p.severity == "error"
               for p in info.value.problems)


def test_lint_line_points_at_the_run(content):
    write_source(content, "lint-line", LINT_CASES["counts-too-big"][0])
    resolved = pipeline.check(content)
    warning = next(w for w in resolved.warnings if w.path.endswith("lint-line.yaml") and "fetched" in w.message)
    assert warning.line == 8  # the `- status: partial` item
