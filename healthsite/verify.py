"""Stage 4, verify: the leak scan. It reads the bytes that were written, not what the templates
meant to write, and fails the build on any raw ref, any token-shaped string, or any name of
another profile. It is the second line: resolve already keeps those out of the view models.
Findings name the file and the kind of leak, never the leaked value.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import ahocorasick

from . import secrets
from .views import Canaries

# Refs shorter than this are matched as whole words only: "1000" must not trip on a count.
_SHORT_REF = 8
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_REF, _NAME = "a raw external account ref", "a name from another profile"


@dataclass(frozen=True)
class Leak:
    file: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:1: leak scan: {self.kind} in the output"


class Scanner:
    """One Aho-Corasick automaton over every canary: a single pass per file, however many."""

    def __init__(self, canaries: Canaries):
        self.automaton = ahocorasick.Automaton()
        for name in canaries.foreign_names:
            self.automaton.add_word(name, (_NAME, len(name)))
        for ref in canaries.refs:  # a ref that is also a foreign name is reported as a ref
            self.automaton.add_word(ref, (_REF, len(ref)))
        self.empty = len(self.automaton) == 0
        if not self.empty:
            self.automaton.make_automaton()

    def scan_text(self, name: str, text: str) -> list[Leak]:
        leaks = set(self._scan(name, text))
        unescaped = html.unescape(text) if "&" in text else text
        if unescaped is not text:
            leaks.update(self._scan(name, unescaped))
        return sorted(leaks, key=lambda leak: (leak.line, leak.kind))

    def _scan(self, name: str, text: str) -> list[Leak]:
        found: list[Leak] = []

        def at(offset: int, kind: str) -> None:
            found.append(Leak(name, text.count("\n", 0, offset) + 1, kind))

        if not self.empty:
            for end, (kind, size) in self.automaton.iter(text):
                start = end - size + 1
                if kind == _REF and size < _SHORT_REF and (
                        (start > 0 and text[start - 1] in _WORD_CHARS)
                        or (end + 1 < len(text) and text[end + 1] in _WORD_CHARS)):
                    continue
                at(start, kind)
        for offset, kind in secrets.find_tokens(text):
            at(offset, f"a {kind}")
        return found

    def scan_file(self, path: Path, name: str) -> list[Leak]:
        return self.scan_text(name, path.read_bytes().decode("utf-8", errors="replace"))


def scan_tree(folder: Path, canaries: Canaries, files: list[str] | None = None) -> list[Leak]:
    """Scan every file under folder (or only the given relative paths)."""
    scanner = Scanner(canaries)
    names = files if files is not None else sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    leaks: list[Leak] = []
    for name in names:
        leaks.extend(scanner.scan_file(folder / name, name))
    return leaks
