"""bench/: Hugo's side of the benchmark renders the same pages as our build, so the comparison
times the same work. Checked on generated content: the same files, the same text once Jinja's and
Go's whitespace are set aside, and the same sources.json data."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from healthsite import pipeline

from .conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import generate  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("hugo") is None, reason="hugo is not installed")


def _files(root):
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}


def _text(path) -> str:
    """A page's text with whitespace between and within tags set aside, and the two spellings that
    differ: Goldmark adds no rel to a note's links (nh3 does), Go writes + as &#43; in an attribute."""
    text = path.read_text(encoding="utf-8").replace(' rel="noopener noreferrer"', "").replace("&#43;", "+")
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", text)).strip()


def _export(path) -> dict:
    """sources.json as data, with what Go writes differently: a whole duration as 127, not 127.0,
    and a run's missing fields left out."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for source in data["sources"]:
        for run in source["sync_history"]:
            for key in ("api_version", "error", "started_at", "duration_s"):
                run.setdefault(key, None)
            if isinstance(run["duration_s"], float) and run["duration_s"].is_integer():
                run["duration_s"] = int(run["duration_s"])
    return data


def test_hugo_renders_the_same_pages_as_our_build(tmp_path):
    content = generate.write_content(tmp_path / "content", 60)
    ours = tmp_path / "ours"
    pipeline.build(content, ours)
    site = generate.write_hugo(tmp_path / "hugo", 60, pages="full", content=content)
    done = subprocess.run(["hugo", "--quiet", "-s", str(site), "-d", str(tmp_path / "theirs")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    mine, theirs = _files(ours), _files(tmp_path / "theirs")
    assert sorted(theirs) == sorted(mine)
    assert sum(1 for rel in mine if rel.startswith("sources/")) == 54  # the authorized profile's only
    assert any(rel.startswith("history/") for rel in mine) and any(rel.startswith("status/") for rel in mine)
    differ = [rel for rel in mine if rel != "sources.json" and not rel.endswith(".png")
              and _text(mine[rel]) != _text(theirs[rel])]
    assert differ == []
    assert _export(theirs["sources.json"]) == _export(mine["sources.json"])
