"""Fixtures of the hostile-input suite; the tools themselves are in helpers.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A minimal valid content folder (shipped site.yaml and catalog, one source) and an output spot."""
    return Workspace(tmp_path)


@pytest.fixture
def primed(ws: Workspace) -> tuple[Workspace, dict[str, str]]:
    """ws with a good site already built into its output: (ws, snapshot of the output's parent)."""
    return ws, ws.prime()
