"""Fixtures of the hostile-input suite; the tools themselves are in helpers.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from healthsite import render

from .helpers import Workspace


@pytest.fixture(scope="package", autouse=True)
def _one_environment_per_templates_folder():
    """Speed only: the suite runs some 500 builds, and compiling the templates is nine tenths of a
    small build. The environment is the one render.make_environment makes, made once per templates
    folder; Jinja's auto_reload still picks up a template a test edits. Content, the subject of
    this suite, goes through every stage exactly as in a normal build. Package scope: the rest of
    the test session gets the real make_environment back."""
    made = render.make_environment
    cache: dict[str, object] = {}

    def make_environment(templates: Path = render.TEMPLATES):
        key = str(Path(templates).resolve())
        if key not in cache:
            cache[key] = made(templates)
        return cache[key]

    render.make_environment = make_environment
    yield
    render.make_environment = made


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A minimal valid content folder (shipped site.yaml and catalog, one source) and an output spot."""
    return Workspace(tmp_path)


@pytest.fixture
def primed(ws: Workspace) -> tuple[Workspace, dict[str, str]]:
    """ws with a good site already built into its output: (ws, snapshot of the output's parent)."""
    return ws, ws.prime()
