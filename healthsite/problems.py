"""Diagnostics: every error and warning carries the file, line and column it is about."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    col: int
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        tag = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}:{self.col}: {tag}{self.message}"

    def as_error(self) -> "Problem":
        return Problem(self.path, self.line, self.col, self.message, "error")


class ContentError(Exception):
    """Raised by a stage when the content cannot be built; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class OutputError(Exception):
    """The output location cannot be used (a file, inside the content folder, not ours...)."""
