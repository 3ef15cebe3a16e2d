"""write: all or nothing, only inside the output folder, never over a folder it did not build."""
from __future__ import annotations

import pytest

from healthsite import write
from healthsite.problems import OutputError

from .conftest import build, tree_hash


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out" / "site"


def staged(out, content, files: dict[str, bytes]):
    stage = write.Staging(out, content)
    for name, data in files.items():
        stage.put(name, data)
    return stage


SITE = {"index.html": b"<p>index</p>", "sources.json": b'{\n  "format": "source-health-preview/sources"\n}',
        "sources/a.html": b"a"}


def test_commit_writes_every_file(out, content):
    with staged(out, content, SITE) as stage:
        stage.commit()
    assert tree_hash(out).keys() == {"index.html", "sources.json", "sources", "sources/a.html"}
    assert (out / "sources" / "a.html").read_bytes() == b"a"
    assert [p.name for p in out.parent.iterdir()] == ["site"]


def test_the_output_folder_is_made_as_mkdir_makes_one(out, content, tmp_path):
    """Readable as any folder the user makes (a web server may run as another user), not the
    owner-only mode of a temporary folder."""
    import os
    old = os.umask(0o022)
    try:
        with staged(out, content, SITE) as stage:
            stage.commit()
        (tmp_path / "plain").mkdir()
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777 == 0o755
    assert (out / "sources").stat().st_mode & 0o777 == 0o755


def test_commit_replaces_the_whole_previous_output(out, content):
    with staged(out, content, {**SITE, "sources/old.html": b"old"}) as stage:
        stage.commit()
    with staged(out, content, SITE) as stage:
        stage.commit()
    assert not (out / "sources" / "old.html").exists()
    assert [p.name for p in out.parent.iterdir()] == ["site"]


def test_an_error_before_commit_leaves_nothing(out, content):
    with pytest.raises(RuntimeError):
        with staged(out, content, SITE):
            raise RuntimeError("render failed")
    assert not out.exists()
    # The folder made for the output's parent is removed again: nothing is left behind.
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_an_error_before_commit_keeps_the_previous_output(out, content):
    with staged(out, content, SITE) as stage:
        stage.commit()
    before = tree_hash(out)
    with pytest.raises(RuntimeError):
        with staged(out, content, {"index.html": b"new"}):
            raise RuntimeError("leak found")
    assert tree_hash(out) == before
    assert [p.name for p in out.parent.iterdir()] == ["site"]


@pytest.mark.parametrize("name", ["../escape.html", "/etc/passwd", "sources/../../x.html", ""])
def test_refuses_to_write_outside_the_output(out, content, name):
    with write.Staging(out, content) as stage:
        with pytest.raises(OutputError):
            stage.put(name, b"x")
    assert not (out.parent / "escape.html").exists()


def test_refuses_two_pages_at_one_path(out, content):
    with write.Staging(out, content) as stage:
        stage.put("sources/a.html", b"1")
        with pytest.raises(OutputError):
            stage.put("sources/A.html", b"2")  # differ only by case: one file on many file systems


def test_output_inside_content_is_refused(content):
    with pytest.raises(OutputError):
        write.Staging(content / "site", content)
    with pytest.raises(OutputError):
        write.Staging(content, content)
    assert not (content / "site").exists()


def test_output_containing_content_is_refused(content):
    with pytest.raises(OutputError):
        write.Staging(content.parent, content)


def test_foreign_folder_is_not_replaced(tmp_path, content):
    out = tmp_path / "documents"
    out.mkdir()
    (out / "thesis.txt").write_text("precious", encoding="utf-8")
    with pytest.raises(OutputError):
        build(content, out)
    assert (out / "thesis.txt").read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.txt"]


def test_output_that_is_a_file_is_refused(tmp_path, content):
    out = tmp_path / "site"
    out.write_text("a file", encoding="utf-8")
    with pytest.raises(OutputError):
        build(content, out)
    assert out.read_text(encoding="utf-8") == "a file"


def test_empty_folder_is_fine(tmp_path, content):
    out = tmp_path / "site"
    out.mkdir()
    build(content, out)
    assert (out / "index.html").is_file()


def test_rebuild_replaces_a_built_site_and_drops_removed_sources(tmp_path, content):
    out = tmp_path / "site"
    build(content, out)
    assert (out / "sources" / "ga4-pending.html").is_file()
    (content / "sources" / "ga4-pending.yaml").unlink()
    build(content, out)
    assert not (out / "sources" / "ga4-pending.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "site"]
