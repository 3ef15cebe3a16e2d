"""Stage 4, verify: the leak scan. It reads the bytes that were written, not what the templates
meant to write, and fails the build on any raw ref, any token-shaped string, or any name of
another profile, and on active content in a page (script, frames, event handlers, script or data
URLs). It is the second line: resolve already keeps those out of the view models.
Findings name the file and the kind of leak, never the leaked value.
"""
from __future__ import annotations

import codecs
import html
import itertools
import json
import os
import re
import zlib
from array import array
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterable, Iterator

import ahocorasick_rs

from . import secrets
from .views import Canaries

# Refs shorter than this are matched as whole words only: "1000" must not trip on a count.
_SHORT_REF = 8
# The automaton holds each canary's first _ANCHOR bytes; the rest of a longer one is checked where
# they are found (Scanner._make). No shorter than _SHORT_REF: a short ref is a whole anchor.
_ANCHOR = 8
_WHOLE = 4  # a flag: an anchor is a canary itself
# Up to this many anchors, the automaton is a DFA: twice as fast over a page as the NFA (the
# refs of a platform begin alike: 10,000 sources' 23,000 canaries are 17 anchors), and small.
_DFA_UP_TO = 1024
_PIECE = 1 << 20  # files larger than this are scanned in pieces
_OVERLAP = 8192  # characters each piece shares with the one before: longer than any ref or token
_OTHER_REFERENCE = re.compile(rb"&(?!amp;|lt;|gt;|#39;|#34;)")  # any but the five markupsafe's escaper writes
_ESCAPED = frozenset(b"&<>'\";")  # the characters they stand for, and their delimiters
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_REF, _NAME = "a raw external account ref", "a name from another profile"
# Active content: the site has none, so any of it in a page came from content through a template
# that skipped escaping or sanitizing (`|safe`). Read from the parsed tags, never from text.
_ACTIVE_TAGS = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form"})
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href", "srcset", "poster", "data", "background"})
_BAD_SCHEME = re.compile(r"^(?:javascript|vbscript|data):")
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]+")
# Cheap first pass, a superset of what the parser looks for: an ordinary page is never parsed.
# It reads the page's UTF-8 bytes lower-cased (bytes.lower() changes ASCII only, so it costs a
# tenth of str.lower()), one literal-led regex per kind, each led by a byte the regex engine can
# search for; one case-insensitive alternation of them all cost more than rendering the page.
# Unicode white space (what \s matched in the text) as UTF-8, and reversed for the reversed page:
_UNICODE_SPACE = (0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
_SPACE = b"(?:[\\t-\\r\\x1c-\\x20]|" + b"|".join(re.escape(chr(c).encode()) for c in _UNICODE_SPACE) + b")"
_IGNORED_OR_SPACE_REVERSED = (b"(?:[\\x00-\\x20\\x7f]|"
                              + b"|".join(re.escape(chr(c).encode()[::-1]) for c in _UNICODE_SPACE) + b")")
_KELVIN, _DOTTED_I = "\u212a".encode(), "\u0130".encode()  # lower-case to k and i, as text
_SUSPECT_TAG = re.compile(rb"<(?:script|iframe|frame(?:set)?|object|embed|applet|base|form)\b")
# javascript:, vbscript:, data: as the parser reads a URL (with [\x00-\x20\x7f] anywhere in it),
# searched backwards from the colon, the one rare byte of them, in the reversed page; only if a
# colon has what could end one of them just before it ("pt:", "ta:" or white space: rare in a page).
_SUSPECT_COLON = re.compile(b":(?:(?<=[\\x00-\\x20\\x7f-\\xff]:)|(?<=[pt\\x00-\\x20\\x7f][ta]:))")
_SUSPECT_SCHEME_REVERSED = re.compile(b":" + _IGNORED_OR_SPACE_REVERSED + b"*(?:"
                                      + b"[\\x00-\\x20\\x7f]*".join([b"t", b"p", b"i", b"r", b"c", b"s"]) + b"|"
                                      + b"[\\x00-\\x20\\x7f]*".join([b"a", b"t", b"a", b"d"]) + b")")
_SUSPECT_REFRESH = re.compile(b"q(?<=eq)uiv" + _SPACE + b"*=(?:" + _SPACE + b"|=)*[\"']?" + _SPACE + b"*refresh")
# An event handler where it starts an attribute: after white space, a slash (<svg/onload=) or a
# quote, as the parser splits attributes (its white space includes \v, \x1c-\x1f and Unicode spaces:
# any last byte of one of those).
_SUSPECT_HANDLER = re.compile(b"on(?<![^\\t-\\r\\x1c-\\x20/\"'\\x80-\\x8a\\x9f\\xa0\\xa8\\xa9\\xaf]on)(?:[a-z]|"
                              + re.escape(_KELVIN) + b")+" + _SPACE + b"*=")
# Character references other than the ones autoescape writes: `&#106;avascript:` is javascript: to
# a browser, and the parser unescapes attribute values. _ODD_ENTITY is any other `&` at all.
_ODD_ENTITY = re.compile(rb"&(?!amp;|lt;|gt;|quot;|#34;|#39;)")
_SUSPECT_ENTITY = re.compile(b"&(?:#(?!39;|34;)|(?!amp;|lt;|gt;|quot;)(?:[a-z]|"
                             + re.escape(_KELVIN) + b"|" + re.escape(_DOTTED_I) + b"))")


# The first look at each written page, a superset of everything above and of
# secrets.may_hold_token: a page it passes (nearly every page) is not lower-cased, decoded or
# parsed. A regex pass costs about what bytes.lower() does and bytes.find is memchr-fast for one
# byte only, so the literals share three passes instead of a dozen:
#   _GATE_TAG  the page, for the tag names;
#   _GATE_ON   a copy where n, N, C and x read c and O reads o, so handlers ("on"), srcdoc and
#              xox[...]- all hold "oc";
#   _GATE      a copy with _MARK put before each byte of _MARKED (a one-byte bytes.replace is
#              memchr-fast), branching on the byte after _MARK.
# The rarest bytes are looked for one at a time (_AT_BYTE). The copies keep the byte before each
# literal, and in the marked one _MARK is followed by a marked byte only where it was put.
_MARK, _MARKED = b"\x01", b"_Akq:9g"  # rarest in pages first
_MARKING = tuple((bytes([c]), _MARK + bytes([c])) for c in _MARKED)
_ON_FOLD = ((b"n", b"c"), (b"N", b"c"), (b"C", b"c"), (b"x", b"c"), (b"O", b"o"))
_AT_BYTE = b"&QGJ"


def _copy(data: bytes, replacing: tuple[tuple[bytes, bytes], ...]) -> bytes:
    for old, new in replacing:
        data = data.replace(old, new)
    return data


def _read(text: bytes, replacing: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """text as it reads in a copy."""
    return b"".join(dict(replacing).get(bytes([c]), bytes([c])) for c in text)


def _any_case(text: bytes, replacing: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """A regex for text in any ASCII case (as in the lower-cased page), as it reads in a copy."""
    parts = []
    for c in text:
        forms = sorted({_read(bytes([c]).lower(), replacing), _read(bytes([c]).upper(), replacing)})
        if len(forms) == 1:
            parts.append(re.escape(forms[0]))
        elif all(len(form) == 1 for form in forms):
            parts.append(b"[" + b"".join(re.escape(form) for form in forms) + b"]")
        else:
            parts.append(b"(?:" + b"|".join(re.escape(form) for form in forms) + b")")
    return b"".join(parts)


_SEP = b"\\t-\\r\\x1c-\\x20/\"'\\x80-\\x8a\\x9f\\xa0\\xa8\\xa9\\xaf"  # before a handler, as in _SUSPECT_HANDLER
_PREFIXES = [text.encode("ascii") for _, prefixes, _ in secrets.TOKEN_RULES for text in prefixes]


def _prefix_rest(prefix: bytes, replacing: tuple[tuple[bytes, bytes], ...], at: int, lead: int) -> bytes:
    """What follows the `lead` bytes at `at` of a token prefix as it reads in a copy, at a word start."""
    read = _read(prefix, replacing)
    return (re.escape(read[at + lead:]) + (b"(?<=" + re.escape(read) + b")" if at else b"")
            + b"(?<![A-Za-z0-9_\\-]" + re.escape(read) + b")")  # as may_hold_token


def _where(prefix: bytes) -> tuple[str, bytes]:
    """Which first look finds a token prefix, and at which byte: the rarest one it holds, best one
    with more of the prefix after it (the branch then fails on a literal, not a look back)."""
    for kind, look in (("marked", _MARKED), ("at byte", _AT_BYTE)):
        held = sorted((prefix.index(c) == len(prefix) - 1, look.index(c), c) for c in look if c in prefix)
        if held:
            return kind, bytes([held[0][2]])
    return ("on", b"oc") if b"oc" in _read(prefix, _ON_FOLD) else ("unanchored", prefix)


def _gate_on() -> re.Pattern[bytes]:
    rests = [b"(?<![^" + _SEP + b"]oc)(?:[a-zA-Z]|" + re.escape(_KELVIN) + b")+" + _SPACE + b"*=",
             b"(?<=" + _any_case(b"srcdoc", _ON_FOLD) + b")"]
    ahead: set[bytes] | None = {b"d", b"D"}  # bytes before the "oc" of srcdoc and of the prefixes
    for prefix in _PREFIXES:
        if _where(prefix)[0] == "on":
            read = _read(prefix, _ON_FOLD)
            at = read.index(b"oc")
            rests.append(_prefix_rest(prefix, _ON_FOLD, at, 2))
            if ahead is not None:
                ahead = ahead | {read[at - 1:at]} if at else None  # a prefix opening with "oc": any byte
    # Most "oc" (an "on" or "oc" inside a word) fail at this one look at the byte before.
    guard = b"(?<![^" + _SEP + b"".join(re.escape(b) for b in sorted(ahead)) + b"]oc)" if ahead else b""
    return re.compile(b"oc" + guard + b"(?:" + b"|".join(rests) + b")")


def _refresh(after_q: bytes) -> bytes:
    """_SUSPECT_REFRESH from its q on, in any case; after_q: the look back at "eq"."""
    return (after_q + _any_case(b"uiv") + _SPACE + b"*=(?:" + _SPACE + b"|=)*[\"']?" + _SPACE + b"*"
            + _any_case(b"refresh"))


def _gate() -> re.Pattern[bytes]:
    rests: dict[bytes, list[bytes]] = {
        # _SUSPECT_COLON; of [taTA] only A is marked
        b":": [b"(?<=[taTA\\x00-\\x20\\x7f-\\xff]\\x01:)(?:(?<=[\\x00-\\x20\\x7f-\\xff]\\x01:)"
               b"|(?<=[ptPT\\x00-\\x20\\x7f][taT]\\x01:)|(?<=[ptPT\\x00-\\x20\\x7f]\\x01A\\x01:))"]}
    rests[b"q"] = [_refresh(b"(?<=[eE]\\x01q)")]  # _SUSPECT_REFRESH
    for prefix in _PREFIXES:
        kind, byte = _where(prefix)
        if kind == "marked":
            at = len(_read(prefix[:prefix.index(byte)], _MARKING))
            rests.setdefault(byte, []).append(_prefix_rest(prefix, _MARKING, at, 2))
    return re.compile(re.escape(_MARK) + b"(?:" + b"|".join(
        re.escape(key) + b"(?:" + b"|".join(rests[key]) + b")" for key in rests) + b")")


def _at_byte() -> tuple[tuple[bytes, re.Pattern[bytes]], ...]:
    safe = [_any_case(b"amp;"), _any_case(b"lt;"), _any_case(b"gt;"), _any_case(b"quot;"), b"#34;", b"#39;"]
    rests: dict[bytes, list[bytes]] = {b"&": [b"(?!" + b"|".join(safe) + b")"],  # _ODD_ENTITY
                                       b"Q": [_refresh(b"(?<=[eE]Q)")]}
    for prefix in _PREFIXES:
        kind, byte = _where(prefix)
        if kind == "at byte":
            rests.setdefault(byte, []).append(_prefix_rest(prefix, (), prefix.index(byte), 1))
    return tuple((byte, re.compile(re.escape(byte) + b"(?:" + b"|".join(rests[byte]) + b")")) for byte in rests)


def _gate_tag() -> re.Pattern[bytes]:
    """_SUSPECT_TAG in any case: "<", one of the names' first letters, and a branch per second
    letter (cheaper than one per first letter)."""
    names: dict[bytes, list[bytes]] = {}
    for name in (b"script", b"iframe", b"frame", b"frameset", b"object", b"embed", b"applet", b"base", b"form"):
        names.setdefault(name[1:2], []).append(name)
    branches = [form + b"(?:" + b"|".join(b"(?<=<" + _any_case(name[:2]) + b")" + _any_case(name[2:])
                                          for name in same) + b")"
                for second, same in names.items() for form in (second, second.upper())]
    return re.compile(b"<[sSiIfFoOeEaAbB](?:" + b"|".join(branches) + b")\\b")


_GATE_TAG, _GATE_ON, _GATE, _AT = _gate_tag(), _gate_on(), _gate(), _at_byte()
_UNANCHORED = tuple(prefix for prefix in _PREFIXES if _where(prefix)[0] == "unanchored")


def _found_at_byte(data: bytes, byte: bytes, pattern: re.Pattern[bytes]) -> bool:
    at = data.find(byte)
    while at >= 0:
        if pattern.match(data, at):
            return True
        at = data.find(byte, at + 1)
    return False


def _may_leak(data: bytes, page: bool) -> bool:
    """False only if none of the checks in shape_leaks would look further (page: HTML or SVG)."""
    return bool((page and _GATE_TAG.search(data)) or _GATE_ON.search(_copy(data, _ON_FOLD))
                or _GATE.search(_copy(data, _MARKING)) or any(_found_at_byte(data, b, p) for b, p in _AT)
                or any(prefix in data for prefix in _UNANCHORED))


def _suspect_lower(low: bytes, odd_entity: bool) -> bool:
    """low: a page's UTF-8 bytes, lower-cased; odd_entity: whether _ODD_ENTITY is in it."""
    return bool((odd_entity and _SUSPECT_ENTITY.search(low))
                or _SUSPECT_TAG.search(low)
                or (_SUSPECT_COLON.search(low) and _SUSPECT_SCHEME_REVERSED.search(low[::-1]))
                or b"srcdoc" in low
                or (b"q" in low and _SUSPECT_REFRESH.search(low))
                or _SUSPECT_HANDLER.search(low))


def looks_active(text: str) -> bool:
    """Does the first look for active content (a superset of what the parser finds) stop at text?"""
    return _suspect(text)


def _suspect(text: str) -> bool:
    low = text.encode("utf-8", "surrogatepass").lower()
    return _suspect_lower(low, b"&" in low and bool(_ODD_ENTITY.search(low)))


@dataclass(frozen=True)
class Leak:
    file: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:1: leak scan: {self.kind} in the output"


def _by_line(leaks: Iterable[Leak]) -> list[Leak]:
    """Each leak once, by line and then kind."""
    return sorted(set(leaks), key=lambda leak: (leak.line, leak.kind))


class _Hashes:
    """A set of the hashes of canaries (bytes), each with its flags: open addressing in an array
    of 8 bytes a slot, at most half of them full. A slot is the hash with its low three bits
    replaced: 4 (a full slot is never 0) and the flags. Two canaries whose hashes agree in the
    other 61 bits are one, their flags together; so is a page's text that happens to hash as a
    canary does, found as a leak where there is none: about one chance in 10^12 for each of the
    longer canaries a page holds the anchor of. Never a leak missed: a canary hashes the same
    wherever it is. hash() differs from process to process, so a table serves only its own."""

    __slots__ = ("slots", "mask", "count")

    def __init__(self, size: int = 1 << 10):
        self.slots, self.mask, self.count = array("q", bytes(8 * size)), size - 1, 0

    def add(self, digest: int, flags: int) -> None:
        if 2 * (self.count + 1) > len(self.slots):
            self._grow()
        self._put((digest & ~7) | 4 | flags)

    def _put(self, key: int) -> None:
        at = self._at(key & ~3)
        if self.slots[at]:
            self.slots[at] |= key
        else:
            self.slots[at] = key
            self.count += 1

    def _grow(self) -> None:
        old = self.slots
        self.slots, self.mask, self.count = array("q", bytes(16 * len(old))), 2 * len(old) - 1, 0
        for key in old:
            if key:
                self._put(key)

    def flags(self, digest: int) -> int | None:
        """The flags of the canary with this hash, or None if there is none."""
        slot = self.slots[self._at((digest & ~7) | 4)]
        return slot & 3 if slot else None

    def _at(self, want: int) -> int:
        """The slot of the hash want stands for (a slot without its flags), or the empty one where
        it would go."""
        slots, mask = self.slots, self.mask
        at = (want >> 3) & mask
        while (slot := slots[at]) and slot & ~3 != want:
            at = (at + 1) & mask
        return at


class Scanner:
    """One Aho-Corasick automaton over the first bytes of every canary: a single pass per file,
    however many."""

    def __init__(self, canaries: Canaries):
        def in_order(words: Iterable[str]) -> list[str]:  # as Store.canary_lines gives them
            return sorted(words, key=lambda word: word.encode("utf-8", "surrogatepass"))
        self._make(itertools.chain(((name, False) for name in in_order(canaries.foreign_names)),
                                   ((ref, True) for ref in in_order(canaries.refs))))

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> Scanner:
        """From lines as Store.canary_lines makes them (kind 0 or 1, then the text as JSON), one
        at a time: the canaries are never all in memory as strings, only in the automaton."""
        scanner = cls.__new__(cls)
        scanner._make((json.loads(line[1:]), line[0] == "1") for line in lines)
        return scanner

    def _make(self, words: Iterable[tuple[str, bool]]) -> None:
        # Memory that stays flat as the canaries grow. An automaton of every canary whole held
        # about 150 bytes a canary (34 MB for the 230,000 of 100,000 sources), most of it in states
        # no other canary shares. This one holds each canary's first _ANCHOR bytes, which canaries
        # share (the refs of a platform begin alike); a longer canary is only its hash, in a table
        # of 8 bytes a slot. An anchor found in a page is where a canary may begin: each length of
        # the longer canaries that begin with it is looked up there.
        # Over UTF-8 bytes: given a str that is not ASCII, ahocorasick_rs maps every byte's offset
        # to a character's, 8 bytes a byte (a scan of a 1 MB piece of the dashboard grew the
        # process by 14 MB); a line is as many newlines in the bytes as in the text.
        # For each anchor: _WHOLE and the flags of the canary that is the anchor itself (1 a raw
        # ref, 2 a short one, found only as a whole word), or 0 if none is.
        whole = bytearray()
        longer: list[int] = []  # for each anchor: the lengths of the longer canaries, a bit each
        hashes = _Hashes()
        plain = True  # no canary could be found differently in a page's raw bytes (see _as_shown)

        def anchors() -> Iterator[bytes]:
            # The names come first, then the refs, each in the order of their bytes (as
            # Store.canary_lines gives them), so the canaries of an anchor come one after another,
            # and each anchor is given to the automaton once (twice at most: as a name's and a
            # ref's) without a set of them all. In any other order one anchor could be there
            # thousands of times, each found wherever it is: refused.
            nonlocal plain
            last, previous = None, (False, b"")
            for word, ref in words:
                if not word:  # an empty canary would be everywhere: none is ever made
                    continue
                data = word.encode("utf-8", "surrogatepass")
                if (ref, data) < previous:
                    raise ValueError("canaries must come names first, then refs, each in the order of their UTF-8 bytes")
                previous = ref, data
                plain = plain and len(data) >= 4 and not _ESCAPED.intersection(data)
                flags = ref | (2 if ref and len(data) < _SHORT_REF else 0)
                anchor = data[:_ANCHOR]
                if anchor != last:
                    last = anchor
                    whole.append(0)
                    longer.append(0)
                    yield anchor
                if len(data) <= _ANCHOR:
                    whole[-1] |= _WHOLE | flags
                else:
                    longer[-1] |= 1 << len(data)
                    hashes.add(hash(data), flags)
        every = anchors()
        first = list(itertools.islice(every, _DFA_UP_TO + 1))
        if len(first) <= _DFA_UP_TO:
            self.automaton = ahocorasick_rs.BytesAhoCorasick(first, implementation=ahocorasick_rs.Implementation.DFA)
        else:
            self.automaton = ahocorasick_rs.BytesAhoCorasick(itertools.chain(first, every),
                                                             implementation=ahocorasick_rs.Implementation.NoncontiguousNFA)
        lengths: dict[int, tuple[int, ...]] = {}  # one tuple for each set of lengths
        self.longer = [lengths.setdefault(bits, tuple(n for n in range(bits.bit_length()) if bits >> n & 1))
                       for bits in longer]
        self.whole, self.hashes = bytes(whole), hashes
        self.empty = not whole
        self.plain = plain

    def scan_text(self, name: str, text: str, shapes: bool = True) -> list[Leak]:
        """Canaries (and, with shapes, token shapes) in text as a browser shows it: an escaped
        ref (&#95; for _) is still the ref. Unescaping only rewrites entities, so whatever the
        raw text holds, the unescaped text holds too."""
        unescaped = html.unescape(text) if "&" in text else text
        data = unescaped.encode("utf-8", "surrogatepass")
        found = self._canaries_in(name, data)
        # The unescaped text has no character references left, so the byte pre-check holds for
        # it (a lone surrogate's bytes are no ASCII: no token holds them or starts after them);
        # a dashboard or sources.json of thousands of sources is mostly free of any prefix.
        if shapes and secrets.may_hold_token(data):
            found += _tokens(name, unescaped)
        return _by_line(found)

    def _canaries_in(self, name: str, data: bytes) -> list[Leak]:
        return [Leak(name, data.count(b"\n", 0, start) + 1, _REF if flags & 1 else _NAME)
                for (start, _), flags in self._spans(data).items()]

    def words_in(self, texts: Iterable[str]) -> set[str]:
        """The canaries found in any of texts, each once (where one is inside another, both)."""
        found: set[str] = set()
        for text in texts:
            data = text.encode("utf-8", "surrogatepass")
            found.update(data[start:end].decode("utf-8", "surrogatepass") for start, end in self._spans(data))
        return found

    def _spans(self, data: bytes) -> dict[tuple[int, int], int]:
        """(start, end) -> the flags of the canaries found there, in data."""
        if self.empty:
            return {}
        # A text that is both a ref and a foreign name is one word of each kind, found twice at
        # the same place: it is reported as a ref.
        spans: dict[tuple[int, int], int] = {}
        whole, longer, size = self.whole, self.longer, len(data)
        # _Hashes.flags, written out: an anchor is found wherever a shown name begins as a
        # foreign one does (a dashboard of 10,000 sources: 90,000 times), and two calls for
        # each length looked up were most of a rename's rebuild.
        slots, mask = self.hashes.slots, self.hashes.mask
        for anchor, start, end in self.automaton.find_matches_as_indexes(data, overlapping=True):
            if whole[anchor]:
                spans[start, end] = spans.get((start, end), 0) | whole[anchor]
            for length in longer[anchor]:  # shortest first
                stop = start + length
                if stop > size:
                    break
                want = (hash(data[start:stop]) & ~7) | 4
                at = (want >> 3) & mask
                while slot := slots[at]:
                    if slot & ~3 == want:
                        spans[start, stop] = spans.get((start, stop), 0) | (slot & 3)
                        break
                    at = (at + 1) & mask
        return {(start, end): flags for (start, end), flags in spans.items()
                if not (flags & 2 and ((start > 0 and data[start - 1] in _WORD_BYTES)
                                       or (end < size and data[end] in _WORD_BYTES)))}

    def scan_file(self, path: Path | str, name: str, shapes: bool = True, as_shown: bool = False) -> list[Leak]:
        """as_shown: the file's bytes are known to read as shown (reads_as_shown, when they were
        made): a scan for canaries alone need not check them again (the check, a UTF-8 decode
        most of all, cost more than the scan: a ref added at 10,000 sources scans 170 MB of
        unchanged files for it)."""
        with open(path, "rb", buffering=0) as handle:
            if os.fstat(handle.fileno()).st_size > _PIECE:
                return self._scan_large(path, name, shapes)
            data = handle.readall()
        if not shapes and ((as_shown and (self.plain or b"&" not in data)) or self._as_shown(data)):
            return _by_line(self._canaries_in(name, data))
        text = data.decode("utf-8", errors="replace")
        leaks = self.scan_text(name, text, shapes)
        if shapes and name.endswith((".html", ".svg")):  # an SVG opened on its own runs its scripts too
            leaks.extend(active_content(name, text))
        return leaks

    def _as_shown(self, data: bytes) -> bool:
        """Would the canaries be found in a page's raw bytes just as in its text as shown
        (scan_text: decoded, character references unescaped), at the same lines? Yes if the bytes
        are valid UTF-8 and their only references are the five an escaper writes (&amp; &lt; &gt;
        &#39; &#34;), and no canary holds any of & < > ' \" ; or has fewer than 4 bytes: a match
        in the text then lies between references, as it does in the bytes, and a match in the
        bytes could not begin or end inside one. Most pages: an unescape and an encode spared."""
        if b"&" in data and not (self.plain and reads_as_shown(data)):
            return False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def _scan_large(self, path: Path | str, name: str, shapes: bool) -> list[Leak]:
        """A large file (the dashboard, sources.json of thousands of sources) in overlapping
        pieces, so a scan never holds it whole: each piece is scanned with the end of the one
        before, long enough for any ref, name or token to be seen whole in one of them."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        leaks: set[Leak] = set()
        carry, line = "", 0  # the overlap, and the line its first character is on (0-based)
        suspect = False
        with open(path, "rb") as handle:
            while True:
                data = handle.read(_PIECE)
                text = carry + decoder.decode(data, final=not data)
                for leak in self.scan_text(name, text, shapes):
                    leaks.add(Leak(name, leak.line + line, leak.kind))
                suspect = suspect or (shapes and name.endswith((".html", ".svg")) and _suspect(text))
                if not data:
                    break
                carry = text[-_OVERLAP:]
                line += text.count("\n", 0, len(text) - len(carry))
        found = _by_line(leaks)
        if suspect:  # rare: parse the whole page to be sure
            with open(path, "rb") as handle:
                found += active_content(name, handle.read().decode("utf-8", errors="replace"))
        return found


def reads_as_shown(encoded: bytes) -> bool:
    """Bytes encoded from text (valid UTF-8 by their making): are their only character
    references the five an escaper writes? Then a plain Scanner finds its canaries in them as in
    their text as shown (Scanner._as_shown). The store keeps the answer for each source's file."""
    return b"&" not in encoded or _OTHER_REFERENCE.search(encoded) is None


# ---- the words of the sources' files: where a rebuild looks a new canary up first --------------
# A canary found in a file's text as shown (scan_text) has each of its runs of _WORD_BYTES inside
# one of the file's own runs: a rebuild need not read an unchanged file again for a new canary
# with any run that is in none of the words its files have held since the store was reset
# (Store.add_words). At 10,000 sources the words are about 90,000, 1 MB, where the files are
# 163 MB, read again from the disk for a new ref when they are out of the page cache (5 s here).
_WORDS_APART = bytes(byte if byte in _WORD_BYTES else 0x20 for byte in range(256))


def words_of(data: bytes, as_shown: bool) -> set[bytes]:
    """The runs of _WORD_BYTES in a file's text as shown, from its bytes. as_shown: they read as
    shown (reads_as_shown), and their runs are those of the text and the five references' names
    ("amp", "39"), which can only add words; else the text is unescaped, as scan_file does."""
    if not as_shown:
        data = html.unescape(data.decode("utf-8", errors="replace")).encode("utf-8", "surrogatepass")
    return set(data.translate(_WORDS_APART).split())


def may_hold(words: bytes, canary: str) -> bool:
    """Could canary be in a text all of whose runs of _WORD_BYTES are among words (joined by
    newlines)? Yes if it has no run (no word to look up), or if each of its runs is in one."""
    runs = canary.encode("utf-8", "surrogatepass").translate(_WORDS_APART).split()
    return not runs or all(run in words for run in runs)


def _tokens(name: str, text: str) -> list[Leak]:
    return [Leak(name, text.count("\n", 0, offset) + 1, f"a {kind}") for offset, kind in secrets.find_tokens(text)]


def shape_leaks(name: str, data: bytes) -> list[Leak]:
    """What needs no canaries: token-shaped strings and active content, in the bytes about to be
    written. The engine runs it on each source's files as they are rendered (in the worker), and
    the canary scan (scan_tree with shapes=False) on the written files once every ref is known."""
    page = name.endswith((".html", ".svg"))
    if not _may_leak(data, page):
        return []
    low = data.lower()
    odd_entity = b"&" in data and bool(_ODD_ENTITY.search(low))
    text = None
    found: list[Leak] = []
    # Decoded and searched only if the bytes hold a token's prefix, or a character reference
    # html.unescape could turn into part of one (any but the ones autoescape writes).
    if odd_entity or secrets.may_hold_token(data):
        text = data.decode("utf-8", errors="replace")
        found = _tokens(name, html.unescape(text) if "&" in text else text)
    if page and _suspect_lower(low, odd_entity):
        found += _parse(name, text if text is not None else data.decode("utf-8", errors="replace"))
    return _by_line(found)


class _ActiveContent(HTMLParser):
    def __init__(self, name: str):
        super().__init__(convert_charrefs=True)
        self.name = name
        self.found: list[Leak] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        line = self.getpos()[0]
        if tag in _ACTIVE_TAGS:
            self.found.append(Leak(self.name, line, f"active content (a <{tag}> element)"))
        for attr, value in attrs:
            if attr.startswith("on"):
                self.found.append(Leak(self.name, line, f"active content (an {attr} event handler)"))
            elif attr in _URL_ATTRS and value and _BAD_SCHEME.match(_IGNORED_IN_URL.sub("", value).lower()):
                self.found.append(Leak(self.name, line, f"active content (a script or data URL in {attr})"))
            elif attr == "srcdoc" or (tag == "meta" and attr == "http-equiv" and (value or "").lower() == "refresh"):
                self.found.append(Leak(self.name, line, f"active content (a {attr} attribute)"))

    handle_startendtag = handle_starttag


def active_content(name: str, text: str) -> list[Leak]:
    """Scripts, frames, event handlers and script/data URLs in a written page: the second line
    behind autoescape and the Markdown sanitizer, as the ref scan is behind the view models."""
    if not _suspect(text):
        return []
    return _parse(name, text)


def _parse(name: str, text: str) -> list[Leak]:
    parser = _ActiveContent(name)
    try:
        parser.feed(text)
        parser.close()
    except AssertionError:  # html.parser on a broken declaration (`<![` and a control character)
        parser.found.append(Leak(name, parser.getpos()[0], "markup the HTML parser cannot read"))
    return parser.found


def scan_tree(folder: Path, canaries: Canaries, files: list[str] | None = None, shapes: bool = True,
              scanner: Scanner | None = None, as_shown: bool = False) -> list[Leak]:
    """Scan every file under folder (or only the given relative paths); with shapes=False only
    for canaries (the files' shapes were scanned when they were rendered). scanner: one already
    built for these canaries. as_shown: every file's bytes read as shown (Scanner.scan_file)."""
    scanner = scanner or Scanner(canaries)
    names = files if files is not None else sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    leaks: list[Leak] = []
    for name in names:
        leaks.extend(scanner.scan_file(f"{folder}/{name}", name, shapes, as_shown))  # a str: no Path made per file
    return leaks


# ---- the build's scan, a chunk of files at a time ------------------------------------------------
# In the build's process, or in a worker that starts from a server process which has imported only
# this module (scanworkers.context): nothing here may need more than it imports.
_SCANNER: tuple[str, Scanner] | None = None  # (the canaries' digest, their automaton)


def scanner_for(key: str, make) -> Scanner:
    """One automaton of the canaries per process, kept while they stay the same (a worker scans
    many chunks; serve rebuilds many times). make: makes it if it is not at hand."""
    global _SCANNER
    if _SCANNER is None or _SCANNER[0] != key:
        _SCANNER = None  # the old one goes before the new one is made
        _SCANNER = (key, make())
    return _SCANNER[1]


def has_scanner(key: str) -> bool:
    """Has this process an automaton of these canaries already?"""
    return _SCANNER is not None and _SCANNER[0] == key


def scan_worker_started(key: str, canaries_file: str) -> None:
    """A scan worker's automaton, made from the file of canary lines it is handed, line by line."""
    def make() -> Scanner:
        with open(canaries_file, encoding="utf-8", errors="surrogatepass") as lines:
            return Scanner.from_lines(lines)
    scanner_for(key, make)


def scan_chunk(item: tuple[str, Path, bytes, bool, bool], scanner: Scanner | None = None) -> list[Leak]:
    """(canaries' digest, folder, relative paths joined by NUL and deflated, shapes too?, bytes
    read as shown?) -> its leaks, found by scanner or by this process's automaton of those
    canaries."""
    key, folder, names, shapes, as_shown = item
    paths = zlib.decompress(names).decode("utf-8", "surrogateescape").split("\0")
    return scan_tree(folder, None, paths, shapes, scanner=scanner or scanner_for(key, _unknown_canaries),
                     as_shown=as_shown)


def parts_clean(key: str, pages: list[str], documents: list[str]) -> bool:
    """Are a rebuild's site-level files as their parts (engine._scan_parts: pages, HTML, and
    documents, sources.json) free of this process's canaries and of token shapes, and the pages'
    of anything the first look for active content (_suspect) stops at? Not the parse: joined by
    newlines, parts are not the pages' markup (a quote left open in one row could make the next
    row's attribute a page's own), and anything this stops at has the files scanned whole."""
    scanner = scanner_for(key, _unknown_canaries)
    page, document = "\n".join(pages), "\n".join(documents)
    return not (scanner.scan_text("parts", page) or scanner.scan_text("parts", document) or _suspect(page))


def _unknown_canaries() -> Scanner:
    raise RuntimeError("a scan worker was handed files without the canaries to scan them for")
