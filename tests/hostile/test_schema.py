"""Well-formed YAML that the content model refuses: wrong types in every section, bad enum values,
negative counts, impossible dates, bad and clashing slugs, unknown platforms, profiles, reason
codes and actions. Each case edits one line of a valid file: that line must be the one named.
"""
from __future__ import annotations

import pytest

from .helpers import BASE_SLUG, BASE_SOURCE, OTHER, PROFILE, Workspace, edit, expect_rejected, line_of

SRC = f"sources/{BASE_SLUG}.yaml"


def src(old: str, new: str, says: str, line: int | None = None):
    """A case: the base source with the whole line(s) old replaced by new; new's last line is named."""
    def build(ws: Workspace):
        text = edit(BASE_SOURCE, old, new)
        at = line or line_of(text, new.split("\n")[-1] + "\n")
        return ws.write(SRC, text), at, says
    return build


def block(key: str, new: str, says: str):
    """A case: the base source's top-level block `key:` (with its indented lines) replaced by new."""
    lines = BASE_SOURCE.split("\n")
    start = lines.index(f"{key}:")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    return src("\n".join(lines[start:end]), new, says, line=start + 1)


def other(rel: str, old: str, new: str, says: str):
    """A case: lines of site.yaml or a catalog file replaced; the last line of new is named."""
    def build(ws: Workspace):
        original = ws.read(rel)
        text = edit(original, old, new)
        line = line_of(original, old + "\n") + new.count("\n")
        return ws.write(rel, text), line, says
    return build


def named(file_name: str, says: str, text: str = BASE_SOURCE):
    """A case: a second source under another file name (the slug comes from the file name)."""
    def build(ws: Workspace):
        return ws.write(f"sources/{file_name}", text), 1, says
    return build


SLUG_RULE = "is not a valid slug"
CASES = {
    # wrong types, section by section
    "name-number": src(f"name: Hostile Base Source", "name: 12345", "name: input should be a valid string"),
    "name-list": src("name: Hostile Base Source", "name: [a, b]", "valid string"),
    "name-too-long": src("name: Hostile Base Source", "name: " + "n" * 201, "at most 200 characters"),
    "platform-mapping": src("platform: tiktok_ads", "platform: {id: tiktok_ads}", "valid string"),
    "profile-bool": src(f"profile: {PROFILE}", "profile: true", "valid string"),
    "context-number": src("context: Post-connection review (preview).", "context: 3.14", "valid string"),
    "status-list": src("status: degraded", "status: [degraded]", "status:"),
    "reasons-text": src("reasons:\n  - auth_expired", "reasons: auth_expired", "valid list"),
    "reasons-item-number": src("  - auth_expired", "  - 42", "reasons.0"),
    "technical-text": block("technical", "technical: all good", "valid dictionary"),
    "technical-list": block("technical", "technical: [enabled]", "valid dictionary"),
    "enabled-text": src("  enabled: true", '  enabled: "yes"', "valid boolean"),
    "enabled-number": src("  enabled: true", "  enabled: 1", "valid boolean"),
    "last-sync-number": src("  last_successful_sync: 2026-11-20T08:15:00Z", "  last_successful_sync: 20261120",
                            "UTC date and time"),
    "actions-mapping": block("actions", "actions: {reconnect: allowed}", "valid list"),
    "action-state-bool": src("    state: blocked\n    reason: Waiting for an admin.", "    state: true", "state"),
    "data-quality-text": block("data_quality", "data_quality: none", "valid list"),
    "fetched-text": src("    fetched: 1000", '    fetched: "1000"', "valid integer"),
    "fetched-float": src("    fetched: 1000", "    fetched: 1000.5", "valid integer"),
    "duration-text": src("    duration_s: 900", '    duration_s: "15 min"', "valid number"),
    "accounts-mapping": block("external_accounts", "external_accounts: {name: x}", "valid list"),
    "selected-text": src("    selected: true", '    selected: "yes"', "valid boolean"),
    "ref-number": src("    ref: tt_7123456789_fr", "    ref: 7123456789", "valid string"),
    "notes-list": src("notes: Plain notes.", "notes: [a, b]", "valid string"),
    "notes-too-long": src("notes: Plain notes.", "notes: " + "n" * 20001, "at most 20000 characters"),
    # bad enum values
    "status-unknown": src("status: degraded", "status: ok", "'ok' is not allowed"),
    "status-wrong-case": src("status: degraded", "status: Degraded", "'Degraded' is not allowed"),
    "api-review-unknown": src("  api_version_review: NOT_REQUIRED", "  api_version_review: MAYBE", "'MAYBE' is not allowed"),
    "mapping-status-unknown": src("  mapping_status: confirmed", "  mapping_status: done", "'done' is not allowed"),
    "dq-severity-unknown": src("  - severity: WARNING", "  - severity: FATAL", "'FATAL' is not allowed"),
    "run-status-unknown": src("  - status: partial", "  - status: done", "'done' is not allowed"),
    "action-state-unknown": src("    state: blocked\n    reason: Waiting for an admin.", "    state: enabled",
                                "'enabled' is not allowed"),
    "account-mapping-unknown": src("    mapping_status: confirmed", "    mapping_status: maybe", "'maybe' is not allowed"),
    # counts and numbers out of range
    "fetched-negative": src("    fetched: 1000", "    fetched: -1", "greater than or equal to 0"),
    "failed-negative": src("    failed: 10", "    failed: -5", "greater than or equal to 0"),
    "processed-huge": src("    processed: 990", "    processed: 10000000000000", "less than or equal to"),
    "duration-negative": src("    duration_s: 900", "    duration_s: -1", "greater than or equal to 0"),
    "duration-nan": src("    duration_s: 900", "    duration_s: .nan", "duration_s"),
    "duration-inf": src("    duration_s: 900", "    duration_s: .inf", "duration_s"),
    # impossible dates and times
    "date-feb-30": src("  last_successful_sync: 2026-11-20T08:15:00Z", "  last_successful_sync: 2026-02-30T00:00:00Z",
                       "not a real date"),
    "date-month-13": src("    started_at: 2026-11-20T08:00:00Z", "    started_at: 2026-13-01T00:00:00Z", "not a real date"),
    "date-hour-25": src("    started_at: 2026-11-20T08:00:00Z", "    started_at: 2026-11-20T25:00:00Z", "not a real date"),
    "date-year-0": src("    started_at: 2026-11-20T08:00:00Z", "    started_at: 0000-01-01T00:00:00Z", "not a real date"),
    "date-no-zone": src("  last_successful_sync: 2026-11-20T08:15:00Z", "  last_successful_sync: 2026-11-20T08:15:00",
                        "time zone is missing"),
    "date-not-utc": src("  last_successful_sync: 2026-11-20T08:15:00Z", "  last_successful_sync: 2026-11-20T08:15:00+02:00",
                        "must be in UTC"),
    "date-only": src("  last_successful_sync: 2026-11-20T08:15:00Z", "  last_successful_sync: 2026-11-20",
                     "UTC date and time"),
    "date-words": src("  last_successful_sync: 2026-11-20T08:15:00Z", "  last_successful_sync: yesterday",
                      "UTC date and time"),
    # slugs (from file names) and clashes
    "slug-upper-case": named("Hostile-Upper.yaml", SLUG_RULE),
    "slug-underscore": named("hostile_under.yaml", SLUG_RULE),
    "slug-leading-dash": named("-hostile.yaml", SLUG_RULE),
    "slug-too-long": named("h" * 65 + ".yaml", SLUG_RULE),
    "slug-unicode": named("h\u00f4stile.yaml", SLUG_RULE),
    "slug-space": named("hostile two.yaml", SLUG_RULE),
    "slug-dot": named("hostile.v2.yaml", SLUG_RULE),
    "slug-clash-yml": named(f"{BASE_SLUG}.yml", "is already used by"),
    "slug-newline": named("hostile\nline.yaml", SLUG_RULE),
    "slug-final-newline": named("hostile\n.yaml", SLUG_RULE),
    # cross-file look-ups
    "platform-unknown": src("platform: tiktok_ads", "platform: myspace_ads", "unknown platform 'myspace_ads'"),
    "profile-unknown": src(f"profile: {PROFILE}", "profile: umbrella", "unknown profile 'umbrella'"),
    "reason-unknown": src("  - auth_expired", "  - launch_failure", "unknown reason code 'launch_failure'"),
    "action-unknown": src("  - id: reconnect", "  - id: launch_missiles", "unknown action 'launch_missiles'"),
    "action-twice": src("actions:", "actions:\n  - id: reconnect\n    state: hidden", "is set twice",
                        line=line_of(BASE_SOURCE, "actions:") + 3),
    "account-profile-unknown": src(f"    profile: {PROFILE}", "    profile: umbrella", "unknown profile 'umbrella'"),
    "dq-code-unknown": src("    code: partial_data\n    message: Some rows were rejected.", "    code: made_up_code",
                           "unknown data-quality code"),
    "blocked-without-reason": src("    state: blocked\n    reason: Waiting for an admin.", "    state: blocked",
                                  "a blocked action needs a reason", line=line_of(BASE_SOURCE, "  - id: reconnect")),
    "reason-on-allowed": src("    state: blocked", "    state: allowed", "reason is only for blocked actions",
                             line=line_of(BASE_SOURCE, "  - id: reconnect")),
    # structure
    "unknown-top-key": src("notes: Plain notes.", "notes: Plain notes.\ncolour: red", "unknown key 'colour'"),
    "unknown-nested-key": src("  enabled: true", "  enabled: true\n  colour: red", "unknown key 'colour'"),
    "unknown-run-key": src("    fetched: 1000", "    fetched: 1000\n    rows: 5", "unknown key 'rows'"),
    "missing-name": src("name: Hostile Base Source\nplatform: tiktok_ads", "platform: tiktok_ads",
                        "missing required key 'name'", line=1),
    "missing-status": src("status: degraded", "", "missing required key 'status'", line=1),
    # site.yaml and the catalog
    "site-title-number": other("site.yaml", "title: Source Health Preview", "title: 42", "valid string"),
    "site-profile-pattern": other("site.yaml", f"profile: {PROFILE}", "profile: Not A Profile", "match pattern"),
    "site-profile-unknown": other("site.yaml", f"profile: {PROFILE}", "profile: umbrella", "profile 'umbrella' is not in"),
    "site-unknown-key": other("site.yaml", "title: Source Health Preview", "title: Source Health Preview\ntheme: dark",
                              "unknown key 'theme'"),
    "site-footer-not-list": other("site.yaml", "footer_notes:", "footer_notes: one note\nunused:", "valid list"),
    "catalog-ref-prefix": other("catalog/platforms.yaml", "  ref_prefix: tt_", "  ref_prefix: 'tt '", "match pattern"),
    "catalog-platform-twice": other("catalog/platforms.yaml", "- id: shopify", "- id: tiktok_ads", "is listed twice"),
    "catalog-severity": other("catalog/reasons.yaml", "- code: auth_expired\n  severity: ERROR",
                              "- code: auth_expired\n  severity: SEVERE", "'SEVERE' is not allowed"),
    "labels-key-newline": other("catalog/labels.yaml", "notes: Notes", 'notes: Notes\n"Bad\\nKey": text',
                                "'Bad\\nKey'"),
    "catalog-profile-id": other("catalog/profiles.yaml", f"- id: {OTHER}", "- id: North Wind", "match pattern"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_schema_error_is_refused(primed, case):
    ws, before = primed
    path, line, says = case(ws)
    result = ws.build()
    expect_rejected(result, before, ws.snapshot(), path, line, message=says)


def test_every_error_of_a_run_is_reported_at_once(primed):
    """Errors in several files and sections come out together, sorted, each with its own line."""
    ws, before = primed
    text = edit(BASE_SOURCE, "status: degraded", "status: ok")
    text = edit(text, "    fetched: 1000", "    fetched: -1")
    text = edit(text, "platform: tiktok_ads", "platform: myspace_ads")
    path = ws.write(SRC, text)
    second = ws.write("sources/Bad_Name.yaml", BASE_SOURCE)
    site = ws.write("site.yaml", edit(ws.read("site.yaml"), "title: Source Health Preview", "title: 42"))
    result = ws.build()
    expect_rejected(result, before, ws.snapshot(), path, line_of(text, "status: ok"))
    expect_rejected(result, before, ws.snapshot(), path, line_of(text, "    fetched: -1"))
    expect_rejected(result, before, ws.snapshot(), second, 1)
    expect_rejected(result, before, ws.snapshot(), site, 2)


def test_unknown_profile_option_is_a_usage_error(primed):
    """`--profile` naming no profile is exit 2 (usage), not a build of nothing."""
    ws, before = primed
    result = ws.build("--profile", "umbrella")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "umbrella" in result.output
    assert ws.snapshot() == before
