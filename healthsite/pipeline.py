"""The whole build, stage after stage: load -> resolve -> render -> verify -> write.

Each stage hands the next only what it made; none reaches back.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from . import engine, render, verify
from .load import load_all
from .problems import ContentError, Problem
from .resolve import Resolved, resolve


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
    mode: str = "cold"  # cold | incremental | unchanged
    rendered: int = 0  # sources rendered (not taken from the cache)
    written: int = 0  # files written or replaced


def check(content_dir: Path, profile: str | None = None, strict: bool = False) -> Resolved:
    """Load, validate and lint; write nothing. Raise ContentError on errors (and warnings if strict)."""
    resolved = resolve(load_all(content_dir), profile)
    if strict and resolved.warnings:
        raise ContentError([w.as_error() for w in resolved.warnings])
    return resolved


def build(content_dir: Path, out_dir: Path, profile: str | None = None, strict: bool = False,
          templates: Path = render.TEMPLATES, cache_dir: Path | None = None, jobs: int | None = None,
          progress=None) -> BuildResult:
    """Build the site. With cache_dir, unchanged sources are taken from the cache and only the
    files whose bytes changed are replaced; the output is the same as a cold build's either way."""
    started = time.perf_counter()
    result = engine.run(Path(content_dir), Path(out_dir), profile, strict, Path(templates),
                        Path(cache_dir) if cache_dir else None, jobs, progress)
    return BuildResult(
        out=Path(out_dir),
        profile=result.site.profile_id,
        sources=result.sources,
        files=result.files,
        pages=result.pages,
        seconds=time.perf_counter() - started,
        warnings=result.warnings,
        mode=result.mode,
        rendered=result.rendered,
        written=result.written,
    )
