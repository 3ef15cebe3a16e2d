"""The file system: output folders in the wrong place, links out of the content folder, odd files
where sources should be, and writes that fail half-way. Every refusal leaves every byte of the
case's folder as it was, the previous output included, and nothing beside it.

Tests run as root here, so "read-only" cannot come from permission bits (root writes anyway, and
chattr is not available): the unwritable parent is a folder of /proc, which no one can create
entries in, and a parent that is a regular file.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from healthsite import write

from .helpers import (BASE_SLUG, BASE_SOURCE, Workspace, assert_built, assert_clean_failure, assert_harmless,
                      expect_rejected, snapshot)


def refused(ws: Workspace, result, before, says: str, file=None, line=None):
    expect_rejected(result, before, snapshot(ws.tmp), file, line, message=says)


# ---- the output folder ------------------------------------------------------------------------
def test_out_equal_to_content(primed):
    ws, _ = primed
    before = snapshot(ws.tmp)
    refused(ws, ws.build(out=ws.content), before, "inside the content folder")


def test_out_inside_content(primed):
    ws, _ = primed
    before = snapshot(ws.tmp)
    refused(ws, ws.build(out=ws.content / "site"), before, "inside the content folder")
    assert not (ws.content / "site").exists()


def test_out_deep_inside_content(primed):
    ws, _ = primed
    before = snapshot(ws.tmp)
    refused(ws, ws.build(out=ws.content / "sources" / "out" / "site"), before, "inside the content folder")


def test_out_inside_content_through_dot_dot(primed):
    ws, _ = primed
    before = snapshot(ws.tmp)
    sneaky = ws.public / ".." / "content" / "site"
    refused(ws, ws.build(out=sneaky), before, "inside the content folder")


def test_out_containing_content(primed):
    """The output's parent holds the content: replacing it would delete the content."""
    ws, _ = primed
    before = snapshot(ws.tmp)
    refused(ws, ws.build(out=ws.tmp), before, "contains the content folder")


def test_out_is_a_symlink(primed):
    ws, _ = primed
    link = ws.tmp / "link-out"
    link.symlink_to(ws.out, target_is_directory=True)
    before = snapshot(ws.tmp)
    refused(ws, ws.build(out=link), before, "symbolic link")


def test_out_parent_is_a_symlink_into_content(primed):
    ws, _ = primed
    link = ws.tmp / "into-content"
    link.symlink_to(ws.content, target_is_directory=True)
    before = snapshot(ws.tmp)
    refused(ws, ws.build(out=link / "site"), before, "inside the content folder")


def test_out_is_a_file(ws):
    target = ws.public / "site"
    target.write_text("not a folder\n", encoding="utf-8")
    before = snapshot(ws.tmp)
    refused(ws, ws.build(out=target), before, "is not a folder")


def test_out_parent_is_a_file(ws):
    parent = ws.public / "plain-file"
    parent.write_text("a file\n", encoding="utf-8")
    before = snapshot(ws.tmp)
    refused(ws, ws.build(out=parent / "site"), before, "cannot write next to the output folder")


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc: the one folder root cannot write into")
def test_out_parent_not_writable_even_for_root(ws):
    """Root ignores permission bits, so the unwritable parent is /proc (no new entries, ever)."""
    out = Path("/proc") / f"healthsite-hostile-{os.getpid()}" / "site"
    before = snapshot(ws.tmp)
    result = ws.build(out=out)
    refused(ws, result, before, "error: ")
    assert not out.parent.exists()


def test_out_not_a_site_is_not_replaced(ws):
    """A non-empty folder that this tool did not build is someone's work: refused, untouched."""
    ws.out.mkdir()
    (ws.out / "thesis.txt").write_text("years of work\n", encoding="utf-8")
    before = snapshot(ws.tmp)
    refused(ws, ws.build(), before, "is not a site built by this tool")


def test_out_empty_folder_is_used(ws):
    ws.out.mkdir()
    assert_built(ws.build())
    assert_harmless(ws.out)
    assert sorted(os.listdir(ws.public)) == ["site"]


# ---- what the content folder holds ------------------------------------------------------------
def test_symlinked_source_pointing_outside(primed):
    ws, _ = primed
    outside = ws.tmp / "elsewhere.yaml"
    outside.write_text(BASE_SOURCE.replace("Hostile Base Source", "CanaryOutsideFile"), encoding="utf-8")
    link = ws.content / "sources" / "outside.yaml"
    link.symlink_to(outside)
    before = snapshot(ws.tmp)
    refused(ws, ws.build(), before, "outside the content folder", file=link, line=1)


def test_symlinked_site_yaml_pointing_outside(primed):
    ws, _ = primed
    outside = ws.tmp / "site-elsewhere.yaml"
    os.replace(ws.content / "site.yaml", outside)
    (ws.content / "site.yaml").symlink_to(outside)
    before = snapshot(ws.tmp)
    refused(ws, ws.build(), before, "outside the content folder", file=ws.content / "site.yaml", line=1)


def test_symlinked_catalog_file_pointing_outside(primed):
    ws, _ = primed
    outside = ws.tmp / "profiles-elsewhere.yaml"
    os.replace(ws.content / "catalog" / "profiles.yaml", outside)
    (ws.content / "catalog" / "profiles.yaml").symlink_to(outside)
    before = snapshot(ws.tmp)
    refused(ws, ws.build(), before, "outside the content folder", file=ws.content / "catalog" / "profiles.yaml", line=1)


def test_symlink_loop_source(primed):
    ws, _ = primed
    loop = ws.content / "sources" / "loop.yaml"
    loop.symlink_to(loop)
    before = snapshot(ws.tmp)
    refused(ws, ws.build(), before, "loop.yaml", file=loop, line=1)


def test_dangling_symlink_source(primed):
    ws, _ = primed
    dangling = ws.content / "sources" / "dangling.yaml"
    dangling.symlink_to(ws.content / "sources" / "missing.yaml")
    before = snapshot(ws.tmp)
    refused(ws, ws.build(), before, "not a regular file", file=dangling, line=1)


def test_symlinked_source_inside_content_is_fine(ws):
    """A link that stays inside the content folder is an ordinary file."""
    (ws.content / "shared").mkdir()
    (ws.content / "shared" / "real.yaml").write_text(BASE_SOURCE.replace("Hostile Base Source", "Linked Source"),
                                                     encoding="utf-8")
    (ws.content / "sources" / "linked.yaml").symlink_to(ws.content / "shared" / "real.yaml")
    assert_built(ws.build())
    assert_harmless(ws.out, visible=("Linked Source",))


def test_source_that_is_a_folder(primed):
    ws, _ = primed
    folder = ws.content / "sources" / "folder.yaml"
    folder.mkdir()
    before = snapshot(ws.tmp)
    refused(ws, ws.build(), before, "not a regular file", file=folder, line=1)


def test_source_that_is_a_fifo_does_not_hang(primed):
    """Reading a named pipe would block forever: it is refused without being opened."""
    ws, _ = primed
    fifo = ws.content / "sources" / "pipe.yaml"
    os.mkfifo(fifo)
    before = snapshot(ws.tmp)
    refused(ws, ws.build(), before, "not a regular file", file=fifo, line=1)


# ---- writes that fail half-way ----------------------------------------------------------------
def test_swap_that_fails_puts_the_previous_output_back(primed, monkeypatch):
    """The second rename of the swap (staging -> out) fails: the old output goes back in place."""
    ws, before = primed
    (ws.content / "sources" / f"{BASE_SLUG}.yaml").write_text(
        BASE_SOURCE.replace("Hostile Base Source", "Second Build"), encoding="utf-8")
    real_rename = os.rename
    calls = []

    def flaky_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    monkeypatch.setattr(write.os, "rename", flaky_rename)
    result = ws.build()
    monkeypatch.undo()
    assert len(calls) >= 2, "the swap did not go through os.rename twice: update this test"
    assert_clean_failure(result)
    assert "cannot replace the output folder" in result.output
    assert ws.snapshot() == before


def test_write_that_fails_leaves_nothing(primed, monkeypatch):
    """A page write fails (disk full): a clean error, no staging folder left, the previous output whole."""
    import os
    ws, before = primed
    real_write = os.write

    def disk_full(fd, data):  # the engine writes a source's pages with os.write
        if "/sources/" in os.readlink(f"/proc/self/fd/{fd}") and ".building-" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    result = ws.build()
    monkeypatch.undo()
    assert_clean_failure(result)
    assert "No space left on device" in result.output
    assert ws.snapshot() == before, "the previous output changed or a staging folder was left behind"


def test_template_error_mid_build_leaves_nothing(primed, tmp_path):
    """Rendering fails after some pages were staged: the staging folder goes, the output stays."""
    import shutil

    from .helpers import TEMPLATES
    ws, before = primed
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    page = (templates / "source.html").read_text(encoding="utf-8")
    assert "{% block main %}" in page
    (templates / "source.html").write_text(page.replace("{% block main %}", "{% block main %}{{ undefined_thing.x }}"),
                                           encoding="utf-8")
    result = ws.build(templates=templates)
    assert_clean_failure(result)
    assert ws.snapshot() == before


def test_templates_folder_without_stylesheet_fails_cleanly(primed, tmp_path):
    """--templates names a folder without assets/style.css: a clean error, not a traceback."""
    import shutil

    from .helpers import TEMPLATES
    ws, before = primed
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    shutil.rmtree(templates / "assets")
    result = ws.build(templates=templates)
    assert_clean_failure(result)
    assert ws.snapshot() == before
