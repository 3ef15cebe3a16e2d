"""yamldoc.read: YAML to plain data with positions; unsafe YAML and secrets refused with file:line."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from healthsite import yamldoc


def read(tmp_path: Path, text: str, name: str = "doc.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return yamldoc.read(path, name)


def test_plain_data_and_positions(tmp_path):
    doc, problems = read(tmp_path, "name: A\nnested:\n  items:\n    - one\n    - two\n  flag: true\ncount: 3\n")
    assert problems == []
    assert doc.data == {"name": "A", "nested": {"items": ["one", "two"], "flag": True}, "count": 3}
    assert doc.where(("nested", "items", 1)) == (5, 7)
    assert doc.where(("nested", "flag")) == (6, 9)
    assert doc.where(("nested", "flag"), key=True) == (6, 3)
    assert doc.where(("count",), key=True) == (7, 1)


def test_problem_is_placed_at_the_value(tmp_path):
    doc, _ = read(tmp_path, "a: 1\nb:\n  c: x\n")
    p = doc.problem(("b", "c"), "bad value")
    assert str(p) == "doc.yaml:3:6: bad value"


def test_dates_stay_text(tmp_path):
    doc, problems = read(tmp_path, "when: 2026-11-20T08:15:00Z\n")
    assert problems == []
    assert doc.data["when"] == "2026-11-20T08:15:00Z"


def test_duplicate_key_names_both_lines(tmp_path):
    _, problems = read(tmp_path, "name: A\nstatus: healthy\nother: 1\nstatus: failing\n")
    assert [(p.line, p.col) for p in problems] == [(4, 1)]
    assert "duplicate key 'status'" in problems[0].message
    assert "line 2" in problems[0].message


@pytest.mark.parametrize("text, line", [
    ("a: !!python/object/apply:os.system ['echo hi']\n", 1),
    ("a: 1\nb: !custom x\n", 2),
    ("base: &b {x: 1}\nc:\n  <<: *b\n", 3),
])
def test_unsafe_tags_and_merge_keys_are_refused(tmp_path, text, line):
    _, problems = read(tmp_path, text)
    assert problems, "an unsafe YAML construct was accepted"
    assert problems[0].line == line


def test_syntax_error_has_line_and_column(tmp_path):
    doc, problems = read(tmp_path, "name: A\nstatus: healthy\n  extra: 1\n")
    assert doc is None
    assert len(problems) == 1
    assert problems[0].line == 3
    assert problems[0].message.startswith("YAML syntax error")


def test_empty_file_is_a_problem(tmp_path):
    doc, problems = read(tmp_path, "# only a comment\n")
    assert doc is None and problems and problems[0].message == "file is empty"


def test_not_utf8_is_a_problem(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"name: A\nctx: caf\xe9\n")
    doc, problems = yamldoc.read(path, "bin.yaml")
    assert doc is None and problems[0].line == 2 and "UTF-8" in problems[0].message


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    doc, problems = read(tmp_path, "\n".join(lines) + "\n")
    assert doc is None
    assert any("alias" in p.message for p in problems)


@pytest.mark.parametrize("key", ["secret", "client_secret", "token", "access_token", "refresh_token", "api_key",
                                 "apiKey", "password", "private_key", "Client-Secret"])
def test_credential_key_with_a_value_is_an_error_at_any_depth(tmp_path, key):
    value = "hunter2-very-private"
    doc, problems = read(tmp_path, f"a: 1\nouter:\n  list:\n    - inner:\n        {key}: {value}\n")
    assert [(p.line, "credential" in p.message) for p in problems] == [(5, True)]
    assert value not in str(problems[0])


def test_credential_key_without_a_value_is_fine(tmp_path):
    _, problems = read(tmp_path, "token:\npassword: ''\n")
    assert problems == []


@pytest.mark.parametrize("token, kind", [
    ("shpat_0123456789abcdef0123456789abcdef", "Shopify"),
    ("shpss_0123456789abcdef0123456789abcdef", "Shopify"),
    ("ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "GitHub"),
    ("sk_live_51Habcdefghijklmnop", "Stripe"),
    ("AKIAIOSFODNN7EXAMPLE", "AWS"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "JSON Web Token"),
])
def test_token_shaped_value_is_an_error_and_never_echoed(tmp_path, token, kind):
    doc, problems = read(tmp_path, f"name: A\nnotes: |\n  some text\n  then {token} here\n")
    assert len(problems) == 1
    assert problems[0].line == 2
    assert kind in problems[0].message
    assert token not in str(problems[0])
    assert token not in repr(doc.data)  # later stages cannot echo it either


def test_masked_form_is_not_a_secret(tmp_path):
    _, problems = read(tmp_path, "ref_shown: tt_•••_fr\nnote: the ref ends in •••7890\n")
    assert problems == []


_WORDS = ["yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON",
          "off", "Off", "OFF", "null", "Null", "NULL", "~", "y", "n", "<<", "=", "1.5", "0o17", "017", "1_000", ".inf"]


@given(st.lists(st.one_of(st.sampled_from(_WORDS), st.sampled_from(list("yYnNtTfFoO~aZ_-. 01:"))), min_size=1,
                max_size=8).map("".join))
def test_plain_scalars_resolve_as_pyyaml_resolves_them(text):
    """The loader's shortcuts for plain scalars (remembered tags, text by its first letter or its
    length) give the tag PyYAML's own resolver gives."""
    import yaml
    loader = yamldoc._Loader("")
    assert loader.resolve(yaml.ScalarNode, text, (True, False)) == \
        yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False))
