"""Isolation: sources and accounts of another profile carry canary names and refs, and the
authorized profile's raw refs come in every shape; none of them may reach any output byte (HTML,
JSON, SVG). The strongest form: adding another profile's content changes no output byte at all,
so not even a count can give it away.
"""
from __future__ import annotations

import json

import pytest

from .helpers import (BASE_NAME, BASE_SLUG, BASE_SOURCE, MASKED, OTHER, PROFILE, REF, assert_absent, assert_built,
                      assert_harmless, edit, output_bytes, snapshot)

SRC = f"sources/{BASE_SLUG}.yaml"
FOREIGN_SLUG = "canary-foreign-slug"
CANARY = {
    "name": "CanaryForeignSourceQx7",
    "context": "CanaryForeignContextLine",
    "reason": "CanaryForeignReasonText",
    "blocked": "CanaryForeignBlockedWhy",
    "dq": "CanaryForeignQualityNote",
    "error": "CanaryForeignSyncError",
    "account": "CanaryForeignAccountZk4",
    "ref": "tt_CANARY0001112_nw",
    "notes": "CanaryForeignNotesMm2",
}
FOREIGN_ACCOUNT = {"name": "CanaryBorrowedAccountJj8", "ref": "tt_CANARY9998887_xx"}


def foreign_source(platform: str = "tiktok_ads") -> str:
    text = BASE_SOURCE.replace(f"profile: {PROFILE}", f"profile: {OTHER}")
    text = text.replace("platform: tiktok_ads", f"platform: {platform}")
    for old, key in (("name: Hostile Base Source", "name"), ("context: Post-connection review (preview).", "context")):
        text = edit(text, old, f"{old.split(':')[0]}: {CANARY[key]}")
    text = edit(text, "  - auth_expired", f"  - code: auth_expired\n    message: {CANARY['reason']}")
    text = edit(text, "    reason: Waiting for an admin.", f"    reason: {CANARY['blocked']}")
    text = edit(text, "    message: Some rows were rejected.", f"    message: {CANARY['dq']}")
    text = edit(text, "    error: Ten rows were rejected.", f"    error: {CANARY['error']}")
    text = edit(text, "  - name: Hostile Base Account", f"  - name: {CANARY['account']}")
    text = edit(text, f"    ref: {REF}", f"    ref: {CANARY['ref']}")
    return edit(text, "notes: Plain notes.", f"notes: {CANARY['notes']}")


def with_foreign_account(text: str) -> str:
    """The authorized source, with an account of the other profile next to its own."""
    return edit(text, "notes: Plain notes.", f"""\
  - name: {FOREIGN_ACCOUNT['name']}
    ref: {FOREIGN_ACCOUNT['ref']}
    profile: {OTHER}
    selected: true
notes: Plain notes.""")


ALL_CANARIES = [*CANARY.values(), *FOREIGN_ACCOUNT.values(), FOREIGN_SLUG]


def test_another_profiles_source_is_not_in_any_byte(ws):
    ws.write(f"sources/{FOREIGN_SLUG}.yaml", foreign_source())
    assert_built(ws.build())
    assert_absent(ws.out, ALL_CANARIES + [REF])
    assert_harmless(ws.out, visible=(BASE_NAME, MASKED))
    export = json.loads((ws.out / "sources.json").read_text(encoding="utf-8"))
    assert [s["slug"] for s in export["sources"]] == [BASE_SLUG]
    assert sum(export["counts"].values()) == 1  # not even a count


def test_another_profiles_account_in_an_authorized_source_is_not_in_any_byte(ws):
    ws.write(SRC, with_foreign_account(BASE_SOURCE))
    assert_built(ws.build())
    assert_absent(ws.out, ALL_CANARIES + [REF])
    export = json.loads((ws.out / "sources.json").read_text(encoding="utf-8"))
    assert [a["name"] for a in export["sources"][0]["external_accounts"]] == ["Hostile Base Account"]


@pytest.mark.parametrize("platform", ["tiktok_ads", "meta_ads"], ids=["same-platform", "platform-only-it-uses"])
def test_adding_another_profiles_content_changes_no_output_byte(tmp_path, platform):
    """Built with and without the other profile's source and account: the same bytes, file for file.
    A platform only the other profile uses gets no page, no filter and no count either."""
    from .helpers import Workspace
    plain, mixed = Workspace(tmp_path / "plain"), Workspace(tmp_path / "mixed")
    mixed.write(f"sources/{FOREIGN_SLUG}.yaml", foreign_source(platform))
    mixed.write(SRC, with_foreign_account(BASE_SOURCE))
    assert_built(plain.build())
    assert_built(mixed.build())
    assert snapshot(mixed.out) == snapshot(plain.out)


def test_the_other_profile_built_with_profile_option_shows_nothing_of_the_first(ws):
    ws.write(f"sources/{FOREIGN_SLUG}.yaml", foreign_source())
    ws.write(SRC, with_foreign_account(BASE_SOURCE))
    assert_built(ws.build("--profile", OTHER))
    # Now the canary source is the authorized one: its raw refs still never show, masked they do.
    assert_absent(ws.out, [BASE_NAME, "Hostile Base Account", REF, CANARY["ref"], FOREIGN_ACCOUNT["ref"], BASE_SLUG])
    assert_harmless(ws.out, visible=(CANARY["name"], "tt_•••_nw"))


RAW_REFS = {  # raw ref -> how it must show
    "prefixed": ("tt_7123456789_fr", "tt_•••_fr"),
    "prefixed-long-tail": ("tt_000000000011112222_abcd", "tt_•••_abcd"),
    "no-prefix": ("legacy-account-99887766", "•••7766"),
    "other-platform-prefix": ("act_1234567890_nw", "•••0_nw"),
    "short": ("tt_1234", "•••"),
    "html-special": ('tt_<b>&"12345_fr', "tt_•••_fr"),
    "unicode": ("tt_ü123456789_fr", "tt_•••_fr"),
    "spaces": ("tt 7123 4567 89 fr", "•••9 fr"),
}


@pytest.mark.parametrize("ref, masked", RAW_REFS.values(), ids=RAW_REFS.keys())
def test_authorized_raw_refs_show_only_masked(ws, ref, masked):
    ws.write(SRC, edit(BASE_SOURCE, f"    ref: {REF}", f"    ref: {json.dumps(ref, ensure_ascii=False)}"))
    assert_built(ws.build())
    if len(ref) >= 8:
        assert_absent(ws.out, [ref])
    else:  # a short ref is only a leak as a whole word; it must not be in the accounts table at least
        page = (ws.out / "sources" / f"{BASE_SLUG}.html").read_text(encoding="utf-8")
        assert f">{ref}<" not in page
    assert_harmless(ws.out, visible=(masked,))
    data = json.loads((ws.out / "sources.json").read_text(encoding="utf-8"))
    assert data["sources"][0]["external_accounts"][0]["masked_ref"] == masked


def test_masks_of_same_shaped_refs_do_not_reveal_length(tmp_path):
    """Two refs of one shape and different lengths look alike: the mask has a fixed width."""
    from .helpers import Workspace
    shown = []
    for i, ref in enumerate(("tt_12345678_fr", "tt_1234567890123456789_fr")):
        ws = Workspace(tmp_path / str(i))
        ws.write(SRC, edit(BASE_SOURCE, f"    ref: {REF}", f"    ref: {ref}"))
        assert_built(ws.build())
        shown.append(output_bytes(ws.out)["sources.json"])
    assert shown[0] == shown[1]


def test_foreign_name_that_is_also_page_copy_is_no_false_leak(ws):
    """Another profile naming its source like page copy ("Connector health", a platform name) must
    not stop the authorized build: the name is on every page whatever the other profile does."""
    text = foreign_source().replace(f"name: {CANARY['name']}", "name: Connector health")
    text = text.replace(f"name: {CANARY['account']}", "name: TikTok Ads")
    ws.write(f"sources/{FOREIGN_SLUG}.yaml", text)
    assert_built(ws.build())
