"""The leak scan stands on its own: it reads the bytes that were written, not what the templates
meant. A deliberately leaky templates folder (given with --templates) must make the build fail,
name the file, never repeat what leaked, and leave the previous output untouched.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .helpers import BASE_SLUG, BASE_SOURCE, OTHER, PROFILE, TEMPLATES, edit, expect_rejected, tokens

FOREIGN_NAME = "CanaryForeignLeakName"


def leaky_templates(tmp_path: Path, file: str, insert: str) -> Path:
    """A copy of the shipped templates with `insert` put at the start of the page's main block
    (or appended, for a file that is not a page)."""
    folder = tmp_path / "leaky-templates"
    if not folder.exists():
        shutil.copytree(TEMPLATES, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    if "{% block main %}" in text:
        text = text.replace("{% block main %}", "{% block main %}" + insert, 1)
    else:
        text += insert
    path.write_text(text, encoding="utf-8")
    return folder


REF = "tt_7123456789_fr"
TOKEN = tokens("leak")["github_ghp"]
CASES = {
    # (template file, what it prints, what the scan must say, what must not be repeated)
    "raw-ref-in-source-page": ("source.html", f"<p>{REF}</p>", "raw external account ref", (REF,)),
    "raw-ref-entity-encoded": ("source.html", "<p>tt&#95;7123456789&#95;fr</p>", "raw external account ref", (REF,)),
    "raw-ref-in-index": ("index.html", f"<!-- {REF} -->", "raw external account ref", (REF,)),
    "token-in-index": ("index.html", f"<p>{TOKEN}</p>", "GitHub token", (TOKEN,)),
    "token-in-stylesheet": ("assets/style.css", f"\n/* {TOKEN} */\n", "GitHub token", (TOKEN,)),
    "foreign-name-in-page": ("source.html", f"<p>{FOREIGN_NAME}</p>", "another profile", (FOREIGN_NAME,)),
    "notes-unsanitized-script": ("source.html", "{{ source.notes|safe }}", "<script>", ()),
    "notes-unsanitized-js-link": ("source.html", "{{ source.notes|safe }}", "script or data URL", ()),
    "notes-unsanitized-handler": ("source.html", "{{ source.notes|safe }}", "event handler", ()),
    "name-unescaped": ("source.html", "<h2>{{ source.name|safe }}</h2>", "event handler", ()),
}
NOTES = {
    "notes-unsanitized-script": "<script>alert(1)</script>",
    "notes-unsanitized-js-link": '<a href="JaVa&#x09;Script:alert(1)">x</a>',
    "notes-unsanitized-handler": '<p onmouseover="alert(1)">x</p>',
}


@pytest.mark.parametrize("case_id", CASES.keys())
def test_leaky_template_fails_the_build(primed, tmp_path, case_id):
    ws, before = primed
    file, insert, says, secrets = CASES[case_id]
    source = BASE_SOURCE
    if case_id in NOTES:
        source = edit(source, "notes: Plain notes.", f"notes: '{NOTES[case_id]}'")
    if case_id == "name-unescaped":
        source = edit(source, "name: Hostile Base Source", "name: '<img src=x onerror=alert(1)>'")
    ws.write(f"sources/{BASE_SLUG}.yaml", source)
    if case_id == "foreign-name-in-page":
        foreign = source.replace(f"profile: {PROFILE}", f"profile: {OTHER}").replace("Hostile Base Source", FOREIGN_NAME)
        ws.write("sources/foreign.yaml", foreign)
    templates = leaky_templates(tmp_path, file, insert)
    result = ws.build(templates=templates)
    expect_rejected(result, before, ws.snapshot(), None, message=says, secrets=secrets)
    assert "leak scan" in result.output
    # The finding names the written file it is in (path:line:1).
    written = "index.html" if file == "index.html" else "assets/style.css" if file.endswith(".css") else f"sources/{BASE_SLUG}.html"
    assert f"{written}:" in result.output


def test_the_same_content_builds_with_the_shipped_templates(primed):
    """Control: the content of the cases above is harmless through the real templates, so the
    failures above come from the leaky templates and the scan, not from the content."""
    ws, _ = primed
    ws.write(f"sources/{BASE_SLUG}.yaml", edit(BASE_SOURCE, "notes: Plain notes.", f"notes: '{NOTES['notes-unsanitized-script']}'"))
    result = ws.build()
    assert result.exit_code == 0, result.output
