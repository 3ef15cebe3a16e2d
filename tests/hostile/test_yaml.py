"""Hostile YAML: broken syntax, duplicate keys, unsafe tags, alias bombs, bad bytes, odd shapes.

Each case writes one file into a minimal valid content folder that was already built once, and
must be refused: exit 1, the file and line named, the previous output byte-identical.
"""
from __future__ import annotations

import os

import pytest

from .helpers import BASE_SOURCE, BASE_SLUG, edit, expect_rejected, line_of, assert_built, assert_harmless

SRC = f"sources/{BASE_SLUG}.yaml"
NEW = "sources/hostile-new.yaml"


def billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def many_values() -> str:
    """Under the size limit, over the value limit: 100 001 values in flow style, no alias needed."""
    return "name: x\nitems: [" + "1," * 100_001 + "]\n"


# (id, file, data, expected line or None when only the file can be named)
CASES = [
    # syntax
    ("syntax-unclosed-flow", NEW, "name: [a, b\nstatus: healthy\n", None),
    ("syntax-tab-indent", NEW, "name: x\ntechnical:\n\tenabled: true\n", 3),
    ("syntax-bad-indent", NEW, "name: a\n  status: b\n", 2),
    ("syntax-bad-escape", NEW, 'name: "abc\\q"\n', 1),
    ("syntax-two-documents", NEW, "name: a\n---\nname: b\n", 2),
    ("syntax-unterminated-quote", NEW, "name: 'abc\nstatus: healthy\n", None),
    ("syntax-control-char", NEW, "name: ok\ncontext: a\x07b\n", 2),
    ("syntax-nul-byte", NEW, "name: ok\nnotes: a\x00b\n", 2),
    ("syntax-undefined-alias", NEW, "name: *nowhere\n", 1),
    ("syntax-duplicate-anchor", NEW, "name: &x a\nplatform: &x b\n", 2),
    # duplicate keys
    ("dup-top-level", SRC, edit(BASE_SOURCE, "status: degraded", "status: degraded\nstatus: healthy"), 6),
    ("dup-nested", SRC, edit(BASE_SOURCE, "  enabled: true", "  enabled: true\n  enabled: false"), 10),
    ("dup-in-list-item", SRC, edit(BASE_SOURCE, "    fetched: 1000", "    fetched: 1000\n    fetched: 5"),
     line_of(BASE_SOURCE, "    fetched: 1000") + 1),
    ("dup-quoted-vs-plain", SRC, edit(BASE_SOURCE, "notes: Plain notes.", "notes: Plain notes.\n\"notes\": again"),
     line_of(BASE_SOURCE, "notes:") + 1),
    # unsafe and unknown tags
    ("tag-python-apply-document", NEW, '!!python/object/apply:os.system ["touch {marker}"]\n', 1),
    ("tag-python-apply-value", SRC, edit(BASE_SOURCE, "context: Post-connection review (preview).",
                                         'context: !!python/object/apply:os.system ["touch {marker}"]'), 4),
    ("tag-python-object-new", SRC, edit(BASE_SOURCE, "notes: Plain notes.",
                                        'notes: !!python/object/new:builtins.str ["x"]'), line_of(BASE_SOURCE, "notes:")),
    ("tag-python-name", SRC, edit(BASE_SOURCE, "status: degraded", "status: !!python/name:os.system"), 5),
    ("tag-python-module", SRC, edit(BASE_SOURCE, "status: degraded", "status: !!python/module:os"), 5),
    ("tag-custom-include", SRC, edit(BASE_SOURCE, "notes: Plain notes.", "notes: !include /etc/passwd"),
     line_of(BASE_SOURCE, "notes:")),
    ("tag-binary", SRC, edit(BASE_SOURCE, "notes: Plain notes.", "notes: !!binary aGVsbG8="), line_of(BASE_SOURCE, "notes:")),
    ("tag-set", SRC, edit(BASE_SOURCE, "reasons:\n  - auth_expired", "reasons: !!set {auth_expired}"), 6),
    ("tag-bool-not-a-bool", SRC, edit(BASE_SOURCE, "  enabled: true", "  enabled: !!bool maybe"), 9),
    ("tag-int-not-an-int", SRC, edit(BASE_SOURCE, "    fetched: 1000", "    fetched: !!int lots"),
     line_of(BASE_SOURCE, "    fetched: 1000")),
    ("merge-key", SRC, BASE_SOURCE + "defaults: &d {selected: true}\nmore:\n  <<: *d\n", BASE_SOURCE.count("\n") + 3),
    # alias abuse and depth
    ("alias-bomb", NEW, billion_laughs(), None),
    ("alias-recursive", NEW, "name: x\nloop: &a [1, *a]\n", 2),
    ("alias-recursive-mapping", NEW, "name: x\nloop: &m {self: *m}\n", 2),
    ("too-many-values", NEW, many_values(), None),
    ("nested-too-deep", NEW, "name: x\nnotes: " + "[" * 60 + "]" * 60 + "\n", 2),
    ("nested-recursion-limit", NEW, "notes: " + "[" * 3000 + "]" * 3000 + "\n", 1),
    # bytes and encodings
    ("non-utf8-latin1", SRC, edit(BASE_SOURCE, f"name: Hostile Base Source", "name: Caf\udce9").encode("utf-8", "surrogateescape"), 1),
    ("non-utf8-late-byte", SRC, (BASE_SOURCE + "# trailing \xff\n").encode("latin-1", "replace"), BASE_SOURCE.count("\n") + 1),
    ("utf16-with-bom", NEW, "\ufeffname: x\n".encode("utf-16"), 1),
    ("too-large", NEW, "name: x\nnotes: " + "a" * (2 * 1024 * 1024 + 10) + "\n", 1),
    # odd shapes
    ("empty-file", NEW, "", 1),
    ("whitespace-only", NEW, "   \n\n  \n", 1),
    ("comment-only", NEW, "# nothing here\n", 1),
    ("null-document", NEW, "~\n", 1),
    ("list-document", NEW, "- name: x\n- name: y\n", 1),
    ("scalar-document", NEW, "just a line of text\n", 1),
    ("number-document", NEW, "42\n", 1),
    ("key-not-text-int", NEW, "1: one\nname: x\n", 1),
    ("key-not-text-bool", NEW, "name: x\nyes: no\n", 2),
    ("key-not-text-null", NEW, "name: x\n~: nothing\n", 2),
    ("key-complex", NEW, "name: x\n? [a, b]\n: c\n", 2),
    # the other content files
    ("site-syntax-error", "site.yaml", "title: [unclosed\nprofile: x\n", None),
    ("site-empty", "site.yaml", "", 1),
    ("site-is-a-list", "site.yaml", "- title: x\n", 1),
    ("catalog-unsafe-tag", "catalog/platforms.yaml", "- !!python/object/apply:os.system [\"touch {marker}\"]\n", 1),
    ("catalog-is-a-mapping", "catalog/reasons.yaml", "code: auth_expired\n", 1),
    ("labels-duplicate-key", "catalog/labels.yaml", "__LABELS__\nhealth: Health again\n", None),
    ("labels-is-a-scalar", "catalog/labels.yaml", "labels\n", 1),
]

# What the message must say, by family: the right rule refused the file, not a side effect.
SAYS = {"syntax": "YAML syntax error", "dup": "duplicate key", "tag": "unsupported YAML tag", "merge": "merge keys",
        "alias-bomb": "alias bomb", "alias-recursive": "recursive alias", "too-many": "too many values",
        "nested": "nested more than", "non-utf8": "not valid UTF-8", "utf16": "not valid UTF-8", "too-large": "bytes, more than",
        "empty": "file is empty", "whitespace": "file is empty", "comment": "file is empty", "null-document": "not nothing",
        "list-document": "not a list", "scalar-document": "not text", "number-document": "not a number",
        "key-": "keys must be plain text", "site-syntax": "YAML syntax error", "site-empty": "file is empty",
        "site-is-a-list": "not a list", "catalog-unsafe": "unsupported YAML tag", "catalog-is-a-mapping": "valid list",
        "labels-duplicate": "duplicate key", "labels-is-a-scalar": "not text", "syntax-control": "control character",
        "syntax-nul": "control character", "syntax-undefined": "undefined alias", "syntax-duplicate-anchor": "duplicate anchor",
        "tag-bool": "cannot read 'maybe' as bool", "tag-int": "cannot read 'lots' as int"}


def says(case_id: str) -> str:
    return SAYS[max((k for k in SAYS if case_id.startswith(k)), key=len)]


@pytest.mark.parametrize("case_id, rel, data, line", CASES, ids=[c[0] for c in CASES])
def test_hostile_yaml_is_refused(primed, tmp_path, case_id, rel, data, line):
    ws, before = primed
    marker = tmp_path / "pwned"
    if isinstance(data, str):
        data = data.replace("{marker}", str(marker))
        if "__LABELS__" in data:
            data = data.replace("__LABELS__", ws.read(rel))
            line = data.count("\n")
    path = ws.write(rel, data)
    result = ws.build()
    expect_rejected(result, before, ws.snapshot(), path, line, message=says(case_id))
    assert not marker.exists(), "a YAML tag ran code"


@pytest.mark.parametrize("case", ["syntax-tab-indent", "dup-nested", "tag-python-apply-value", "alias-recursive",
                                  "syntax-control-char", "list-document"])
def test_check_refuses_like_build(ws, tmp_path, case):
    """`check` reads the same way: exit 1, the same file and line, nothing written anywhere."""
    _, rel, data, line = next(c for c in CASES if c[0] == case)
    path = ws.write(rel, data.replace("{marker}", str(tmp_path / "pwned")))
    before = ws.snapshot()
    expect_rejected(ws.check(), before, ws.snapshot(), path, line)
    assert not (tmp_path / "pwned").exists()


def test_utf8_bom_is_read(ws):
    """A BOM (as some editors save) is not an error: the file builds like any other."""
    ws.write(f"sources/{BASE_SLUG}.yaml", "\ufeff" + BASE_SOURCE.replace("Hostile Base Source", "BOM Source"))
    result = ws.build()
    assert_built(result)
    assert_harmless(ws.out, visible=("BOM Source",))


def test_plain_anchors_and_aliases_are_fine(ws):
    """Aliases are refused only when they recurse or explode: reuse of a value is ordinary YAML."""
    text = edit(BASE_SOURCE, "context: Post-connection review (preview).", "context: &ctx Shared context line.")
    text = edit(text, "    error: Ten rows were rejected.", "    error: *ctx")
    ws.write(f"sources/{BASE_SLUG}.yaml", text)
    assert_built(ws.build())
    assert_harmless(ws.out, visible=("Shared context line.",))


def test_refused_yaml_does_not_touch_a_missing_output(ws):
    """No previous output: a refused build creates nothing at all, not even the parent's children."""
    ws.write(NEW, "name: [unclosed\n")
    before = ws.snapshot()
    result = ws.build()
    expect_rejected(result, before, ws.snapshot(), ws.path(NEW))
    assert not ws.out.exists()
    assert os.listdir(ws.public) == []
