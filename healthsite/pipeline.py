"""The whole build, stage after stage: load -> resolve -> render -> verify -> write.

Each stage hands the next only what it made; none reaches back.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from . import render, verify
from .load import load_all
from .problems import ContentError, Problem
from .resolve import Resolved, resolve
from .write import Staging


class LeakError(Exception):
    def __init__(self, leaks: list[verify.Leak]):
        self.leaks = leaks
        super().__init__("\n".join(str(leak) for leak in leaks))


@dataclass
class BuildResult:
    out: Path
    profile: str
    sources: int
    files: int
    pages: int
    seconds: float
    warnings: list[Problem] = field(default_factory=list)


def check(content_dir: Path, profile: str | None = None, strict: bool = False) -> Resolved:
    """Load, validate and lint; write nothing. Raise ContentError on errors (and warnings if strict)."""
    resolved = resolve(load_all(content_dir), profile)
    if strict and resolved.warnings:
        raise ContentError([w.as_error() for w in resolved.warnings])
    return resolved


def build(content_dir: Path, out_dir: Path, profile: str | None = None, strict: bool = False,
          templates: Path = render.TEMPLATES) -> BuildResult:
    started = time.perf_counter()
    resolved = check(content_dir, profile, strict)
    with Staging(out_dir, content_dir) as stage:
        for relpath, data in render.render_site(resolved.site, templates):
            stage.put(relpath, data)
        leaks = verify.scan_tree(stage.root, resolved.canaries, stage.files)
        if leaks:
            raise LeakError(leaks)
        stage.commit()
        files = stage.files
    return BuildResult(
        out=Path(out_dir),
        profile=resolved.site.profile_id,
        sources=len(resolved.site.sources),
        files=len(files),
        pages=sum(1 for f in files if f.endswith(".html")),
        seconds=time.perf_counter() - started,
        warnings=resolved.warnings,
    )
