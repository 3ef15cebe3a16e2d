"""Secrets in content: credential-named keys at any depth, token-shaped values anywhere (the rule
families of gitleaks and detect-secrets), in sources, site.yaml and the catalog. Each is a build
error naming the file and line, and no message repeats the value. The masked form `•••` and
ordinary words (token, secret, password) in prose are not secrets.
"""
from __future__ import annotations

import json

import pytest

from .helpers import (BASE_SLUG, BASE_SOURCE, MASKED, OTHER, SHIPPED, assert_absent, assert_built, assert_harmless,
                      edit, expect_rejected, line_of, private_key_block, tokens)

SRC = f"sources/{BASE_SLUG}.yaml"
NEW = "sources/hostile-new.yaml"


def shipped(rel: str) -> str:
    return (SHIPPED / rel).read_text(encoding="utf-8")


def case(rel, text, secret, line=None):
    """(file, text, secrets, line): line defaults to the line the secret is on."""
    return rel, text, (secret,), line or line_of(text, secret)


def src_line(old, new_template, tag, kind):
    """The base source with one line replaced; {T} in new_template becomes the token."""
    token = tokens(tag)[kind]
    return case(SRC, edit(BASE_SOURCE, old, new_template.replace("{T}", token)), token)


def other_line(rel, old, new_template, tag, kind):
    token = tokens(tag)[kind]
    return case(rel, edit(shipped(rel), old, new_template.replace("{T}", token)), token)


def _multiline_notes(tag):
    block = private_key_block(tag)
    text = edit(BASE_SOURCE, "notes: Plain notes.", "notes: |\n  Pasted from a ticket:\n" +
                "\n".join("  " + line for line in block.split("\n")))
    return SRC, text, (block.split("\n")[1],), line_of(text, "notes: |")


def _comment(tag):
    token = tokens(tag)["github_ghp"]
    text = edit(BASE_SOURCE, "status: degraded", f"status: degraded  # was failing, token {token}")
    return case(SRC, text, token)


def _key(tag):
    token = tokens(tag)["shopify_shpat"]
    text = edit(BASE_SOURCE, "notes: Plain notes.", f"notes: Plain notes.\n{token}: stray")
    return case(SRC, text, token)


def _dup_key(tag):
    token = tokens(tag)["stripe_live"]
    text = edit(BASE_SOURCE, "notes: Plain notes.", f"notes: Plain notes.\n{token}: 1\n{token}: 2")
    return SRC, text, (token,), line_of(text, token)


def _tag_name(tag):
    token = tokens(tag)["shopify_shpca"]
    text = edit(BASE_SOURCE, "notes: Plain notes.", f"notes: !{token} plain")
    return case(SRC, text, token)


def _escaped(tag):
    token = tokens(tag)["shopify_shpss"]
    escaped = token.replace("_", "\\x5f", 1)
    text = edit(BASE_SOURCE, "notes: Plain notes.", f'notes: "{escaped}"')
    return SRC, text, (token,), line_of(text, "notes:")


def _foreign(tag):
    token = tokens(tag)["google_api"]
    text = BASE_SOURCE.replace("profile: cyspera", f"profile: {OTHER}").replace("notes: Plain notes.", f"notes: {token}")
    return case(NEW, text, token)


def _broken_file(tag):
    token = tokens(tag)["slack_bot"]
    text = f"name: [unclosed\nnotes: {token}\n"
    return NEW, text, (token,), None


def _file_name(tag):
    token = tokens(tag)["slack_bot"].lower()
    return f"sources/{token}.yaml", BASE_SOURCE, (token,), 1


def _mapping_value(tag):
    text = edit(BASE_SOURCE, "notes: Plain notes.", "notes: Plain notes.\ncredentials:\n  user: ops\n  pass: tr0ub4dor-3-horse")
    return SRC, text, ("tr0ub4dor-3-horse",), line_of(text, "  user: ops")


def cred(rel, old, new, value, base=None):
    """A credential-named key holding a value that is not token-shaped: the key alone makes it an error."""
    text = edit(base if base is not None else BASE_SOURCE, old, new.replace("{V}", value))
    return rel, text, (value,), line_of(text, value)


CASES = {
    # token-shaped values, one family after another, in every kind of file and field
    "shopify-shpat-in-name": src_line("name: Hostile Base Source", "name: Store {T}", "name", "shopify_shpat"),
    "shopify-shpss-in-context": src_line("context: Post-connection review (preview).", "context: '{T}'", "ctx",
                                         "shopify_shpss"),
    "shopify-shpca-in-reason": src_line("  - auth_expired", "  - code: auth_expired\n    message: use {T}", "rsn",
                                        "shopify_shpca"),
    "shopify-shppa-in-reason-list": src_line("  - auth_expired", "  - {T}", "rlist", "shopify_shppa"),
    "github-ghp-in-sync-error": src_line("    error: Ten rows were rejected.", "    error: 401 for {T}", "err",
                                         "github_ghp"),
    "github-pat-in-account-name": src_line("  - name: Hostile Base Account", "  - name: {T}", "acct", "github_pat"),
    "stripe-live-as-account-ref": src_line("    ref: tt_7123456789_fr", "    ref: {T}", "ref", "stripe_live"),
    "aws-key-in-data-quality": src_line("    message: Some rows were rejected.", "    message: key {T} found", "dq",
                                        "aws_key"),
    "google-api-in-blocked-reason": src_line("    reason: Waiting for an admin.", "    reason: 'key={T}'", "blk",
                                             "google_api"),
    "slack-bot-in-api-version": src_line("    api_version: v1.3", "    api_version: {T}", "api", "slack_bot"),
    "jwt-in-notes-link": src_line("notes: Plain notes.", "notes: '[session](https://example.test/?t={T})'", "jwt",
                                  "jwt"),
    "private-key-header-in-notes": src_line("notes: Plain notes.", "notes: '{T}'", "pk", "private_key"),
    "private-key-block-multiline": _multiline_notes("pkblock"),
    "site-banner": other_line("site.yaml", "title: Source Health Preview",
                              "title: Source Health Preview\nbanner_extra: '{T}'", "banner", "shopify_shpat"),
    "site-footer-note": other_line("site.yaml", "footer_notes:", "footer_notes:\n  - 'token {T}'", "foot", "github_ghp"),
    "site-title": other_line("site.yaml", "title: Source Health Preview", "title: Preview {T}", "title", "aws_key"),
    "catalog-platform-name": other_line("catalog/platforms.yaml", "  name: TikTok Ads",
                                        "  name: TikTok Ads {T}", "plat", "stripe_live"),
    "catalog-reason-message": other_line("catalog/reasons.yaml",
                                         "  health_message: Authorization expired — reconnect to resume syncing.",
                                         "  health_message: Authorization expired, use {T}", "reason", "aws_key"),
    "catalog-profile-extra-key": other_line("catalog/profiles.yaml", f"- id: {OTHER}", f"- id: {OTHER}\n  note: {{T}}",
                                            "prof", "slack_bot"),
    "catalog-label": other_line("catalog/labels.yaml", "notes: Notes", "notes: Notes {T}", "label", "jwt"),
    "catalog-action-extra-key": other_line("catalog/actions.yaml", "- id: reconnect", "- id: reconnect\n  hint: '{T}'",
                                             "act", "google_api"),
    # token-shaped text where a value is not
    "token-as-key": _key("key"),
    "token-as-duplicate-key": _dup_key("dupkey"),
    "token-as-tag": _tag_name("tagname"),
    "token-in-comment": _comment("comment"),
    "token-in-int-tag": src_line("    fetched: 1000", "    fetched: !!int {T}", "inttag", "shopify_shpat"),
    "token-in-bool-tag": src_line("  enabled: true", "  enabled: !!bool {T}", "booltag", "github_ghp"),
    "token-escaped-in-yaml": _escaped("escaped"),
    "token-in-foreign-source": _foreign("foreign"),
    "token-in-broken-file": _broken_file("broken"),
    "token-as-file-name": _file_name("fname"),
    # credential-named keys, at any depth, with values that look like nothing in particular
    "cred-top-level-client-secret": cred(SRC, "notes: Plain notes.", "notes: Plain notes.\nclient_secret: {V}",
                                         "c0rrect-h0rse-battery"),
    "cred-nested-access-token": cred(SRC, "  enabled: true", "  enabled: true\n  access_token: {V}", "opaque-value-1"),
    "cred-in-account-password": cred(SRC, "    selected: true", "    selected: true\n    password: {V}", "hunter2-hunter2"),
    "cred-in-run-refresh-token": cred(SRC, "    fetched: 1000", "    fetched: 1000\n    refresh_token: {V}",
                                      "r3fresh-me-please"),
    "cred-spelled-with-dash": cred(SRC, "notes: Plain notes.", "notes: Plain notes.\nClient-Secret: {V}", "d4sh-spelled"),
    "cred-spelled-with-space": cred(SRC, "notes: Plain notes.", "notes: Plain notes.\nAPI Key: {V}", "sp4ce-spelled"),
    "cred-mapping-value": _mapping_value("map"),
    "cred-in-site": cred("site.yaml", "title: Source Health Preview", "title: Source Health Preview\napi_key: {V}",
                         "s1te-level-key", base=shipped("site.yaml")),
    "cred-in-catalog-platform": cred("catalog/platforms.yaml", "  ref_prefix: tt_", "  ref_prefix: tt_\n  private_key: {V}",
                                     "pl4tform-key", base=shipped("catalog/platforms.yaml")),
    "cred-in-labels": cred("catalog/labels.yaml", "notes: Notes", "notes: Notes\nwebhook_secret: {V}", "l4bel-secret",
                           base=shipped("catalog/labels.yaml")),
}


@pytest.mark.parametrize("case_id, rel, text, secrets, line", [(k, *v) for k, v in CASES.items()], ids=CASES.keys())
def test_secret_is_refused_and_never_repeated(primed, case_id, rel, text, secrets, line):
    ws, before = primed
    path = ws.write(rel, text)
    result = ws.build()
    # A token-shaped file name is named redacted (see the test below), so it cannot be matched here.
    expect_rejected(result, before, ws.snapshot(), None if case_id == "token-as-file-name" else path, line,
                    secrets=secrets)
    checked = ws.check()  # `check` is as discreet as `build`
    for secret in secrets:
        assert secret not in checked.output


def test_token_in_file_name_is_redacted(primed):
    ws, before = primed
    rel, text, secrets, _ = _file_name("fname2")
    ws.write(rel, text)
    result = ws.build()
    expect_rejected(result, before, ws.snapshot(), None, secrets=secrets, message="file name looks like a Slack token")
    assert "[redacted].yaml:1:1:" in result.output


@pytest.mark.parametrize("text", [
    f"A masked ref such as {MASKED} is fine.",
    "Masked: •••1234 and •••.",
    "The access token expired; ask for a new secret. Password reset done.",
    "Near misses: sk_live alone, AKIA12, ghp_short, eyJ alone, -----BEGIN PUBLIC KEY-----.",
], ids=["masked-with-prefix", "masked-tail", "credential-words-in-prose", "near-misses"])
def test_masked_forms_and_prose_are_not_secrets(ws, text):
    """The mask and prose about credentials build, and show as written."""
    quoted = json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML scalar
    source = edit(BASE_SOURCE, "notes: Plain notes.", f"notes: {quoted}")
    source = edit(source, "context: Post-connection review (preview).", f"context: {quoted}")
    ws.write(f"sources/{BASE_SLUG}.yaml", source)
    result = ws.build()
    assert_built(result)
    assert_harmless(ws.out, visible=(text,))


def test_masked_account_name_builds(ws):
    source = edit(BASE_SOURCE, "  - name: Hostile Base Account", f"  - name: Account {MASKED}")
    ws.write(f"sources/{BASE_SLUG}.yaml", source)
    assert_built(ws.build())
    assert_harmless(ws.out, visible=(f"Account {MASKED}",))
    assert_absent(ws.out, ["tt_7123456789_fr"])
