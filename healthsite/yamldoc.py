"""Read one YAML file into plain Python data, safely, keeping where every value came from.

libyaml's C composer builds the node tree (positions included); a small walk turns nodes into
dicts, lists and scalars. The walk is where the unsafe parts of YAML are refused: any tag that
is not a plain YAML type (`!!python/...`, custom tags), duplicate keys, non-text keys, recursive
aliases and alias bombs. It also scans every key and value for credentials, so a secret is
reported with its line before anything is validated. Nothing is positioned on the happy path:
the node tree is kept and only walked again to place a problem. A file with no token-shaped
text is first read by a leaner walk that accepts only what the full walk would accept without a
word; at anything else it hands the file to the full walk, which then reports as always.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import secrets
from .problems import Problem

try:  # libyaml's C composer where present: several times faster than the pure-Python one.
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader


_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_INT = "tag:yaml.org,2002:int"
_ignore_two = slice  # takes two arguments of any kind and does nothing else


class _Loader(_BaseLoader):
    """libyaml's composer, with a cheaper resolver: how a plain scalar resolves depends on its
    text alone, and keys and enum values repeat across thousands of files."""

    def __init__(self, stream):
        super().__init__(stream)
        # The composer calls these around every node, for path resolvers; a safe loader has none
        # (BaseResolver's own methods return at once then). Builtins cost less than that call.
        self.descend_resolver, self.ascend_resolver = _ignore_two, tuple
        # The composer calls self.resolve for every node: an lru_cache answers a repeated one in
        # C, without a Python call (a file has about 170 of them, most of them keys).
        self.resolve = _resolve


@functools.lru_cache(maxsize=8192)
def _resolve(kind, value, implicit):
    """The tag of a node without one, as the loader's resolver gives it."""
    if value is None:  # a collection (a scalar's value is text): no tag given means the plain type
        return _SEQ if kind is yaml.SequenceNode else _MAP
    if not implicit[0]:  # quoted or block text is a string: no regex needed
        return _STR
    # The resolver only tries the patterns registered for the text's first character: with
    # none (names, refs, most prose), it is text.
    firsts = _BaseLoader.yaml_implicit_resolvers
    if value[:1] not in firsts and None not in firsts:
        return _STR
    # A letter that only starts a YAML 1.1 bool or null word (yes, Off, null, FALSE: five
    # characters at most): longer text is text. Ids, names and refs mostly start so.
    if len(value) > 5 and value[0] in _WORD_FIRSTS:
        return _STR
    # Plain decimal digits: the float patterns all need a '.', the int one takes them.
    if value.isdigit() and value.isascii() and (value[0] != "0" or len(value) == 1):
        return _INT
    return _RESOLVER.resolve(kind, value, implicit)


_RESOLVER = yaml.resolver.Resolver()  # the safe loaders' resolver, without the loader around it
_WORD_FIRSTS = frozenset(first for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
                         if first and first.isalpha()
                         and all(tag in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:null") for tag, _ in resolvers))

MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 100_000  # values after alias expansion: stops "billion laughs" documents
MAX_DEPTH = 50
REDACTED = "[redacted]"

_T = "tag:yaml.org,2002:"
_SCALARS = {_T + "str", _T + "int", _T + "float", _T + "bool", _T + "null", _T + "timestamp"}
_constructor = yaml.constructor.SafeConstructor()


@dataclass
class YamlDoc:
    """A file's data plus the node tree to place problems in it."""

    path: str  # as shown in messages
    data: Any
    root: yaml.Node

    def where(self, loc: tuple = (), key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the value at loc (or of its key), as near as the tree goes."""
        node, key_node = self.root, None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        key_node, node = k, v
                        break
                else:
                    break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                key_node, node = None, node.value[part]
            else:
                break
        mark = (key_node if key and key_node is not None else node).start_mark
        return mark.line + 1, mark.column + 1

    def problem(self, loc: tuple, message: str, key: bool = False, severity: str = "error") -> Problem:
        line, col = self.where(loc, key)
        return Problem(self.path, line, col, message, severity)


class _Walk:
    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []
        self.count = 0
        self.active: set[int] = set()
        self.secret_lines: set[int] = set()  # 0-based lines of what was flagged as a secret
        self.tokens = True  # check every key and value for token shapes

    def secret(self, node: yaml.Node, message: str) -> None:
        self.fail(node, message)
        self.secret_lines.update(range(node.start_mark.line, node.end_mark.line + 1))

    def fail(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.path, node.start_mark.line + 1, node.start_mark.column + 1, message))

    def value(self, node: yaml.Node, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node)
        if depth > MAX_DEPTH:
            raise _TooDeep(node)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self.active:
            raise _Recursive(node)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _T + "seq":
                    self.fail(node, _bad_tag(node.tag))
                return [self.value(item, depth + 1) for item in node.value]
            if node.tag != _T + "map":
                self.fail(node, _bad_tag(node.tag))
            return self.mapping(node, depth)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        # Every scalar, whatever its tag: `!!int shpat_...` or `!x shpat_...` is a pasted token too,
        # and the "cannot read ... as int" message below would otherwise repeat it.
        kind = secrets.find_token(node.value) if self.tokens else None
        if kind:
            self.secret(node, f"value looks like a {kind}: remove it (a preview holds no secrets)")
            return REDACTED  # so no later message can echo it
        if tag not in _SCALARS:
            if tag == _T + "merge":
                self.fail(node, "merge keys (<<) are not supported: write the keys out")
            else:
                self.fail(node, _bad_tag(tag))
            return None
        if tag == _T + "str" or tag == _T + "timestamp":
            # Timestamps stay text: the schema parses them, so a bad date is reported with its line.
            return node.value
        try:
            if tag == _T + "int":
                return _constructor.construct_yaml_int(node)
            if tag == _T + "float":
                return _constructor.construct_yaml_float(node)
            if tag == _T + "bool":
                return _constructor.construct_yaml_bool(node)
            return None
        except (ValueError, KeyError, yaml.YAMLError):  # KeyError: `!!bool maybe` (a traceback before)
            self.fail(node, f"cannot read {node.value!r} as {tag.rsplit(':', 1)[-1]}")
            return None

    def mapping(self, node: yaml.MappingNode, depth: int) -> dict:
        out: dict = {}
        first_line: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in (_T + "str",):
                if key_node.tag == _T + "merge":
                    self.fail(key_node, "merge keys (<<) are not supported: write the keys out")
                else:
                    self.fail(key_node, "keys must be plain text")
                continue
            key = key_node.value
            # Token-shaped keys first: the duplicate-key message below quotes the key.
            kind = secrets.find_token(key) if self.tokens else None
            if kind:
                self.secret(key_node, f"key looks like a {kind}: remove it (a preview holds no secrets)")
                continue
            if key in out or key in first_line:
                self.fail(key_node, f"duplicate key {key!r} (first at line {first_line[key]})")
                continue
            first_line[key] = key_node.start_mark.line + 1
            if _credential_key(key) and not _empty(value_node):
                self.secret(value_node, f"key {key!r} holds a credential: remove it (a preview holds no secrets)")
                out[key] = None
                continue
            out[key] = self.value(value_node, depth + 1)
        return out


_credential_key = functools.lru_cache(maxsize=4096)(secrets.is_credential_key)  # keys repeat across files


class _Slow(Exception):
    """The fast walk met something only the full walk handles: take that instead."""


_SCALAR_NODE, _SEQ_NODE, _MAP_NODE = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
_FLOAT, _BOOL, _NULL, _TIMESTAMP = _T + "float", _T + "bool", _T + "null", _T + "timestamp"
_BOOLS = yaml.constructor.SafeConstructor.bool_values


def _plain(root: yaml.Node) -> Any:
    """The data _Walk would read from root, for a tree in which it would find no problem at all
    (with token checks off); raises _Slow at anything else, so the full walk then reads the file
    from the start and reports as always. It refuses nothing itself: every tag it does not know,
    every key that is not plain text, a duplicate key, a credential key with a value, a value it
    cannot convert, too deep a tree or too many values all hand over to the full walk. One call
    per mapping or list, not per value, and nothing kept for messages: most files are clean."""
    scalar = _scalar
    count = 1  # values read, as _Walk counts them: the root and every item and mapping value

    def walk(node: yaml.Node, depth: int) -> Any:
        nonlocal count
        kind = type(node)
        if kind is _MAP_NODE:
            if node.tag != _MAP:
                raise _Slow
            pairs = node.value
            count += len(pairs)
            if count > MAX_NODES or depth >= MAX_DEPTH:
                raise _Slow
            out: dict = {}
            for key_node, item in pairs:
                if type(key_node) is not _SCALAR_NODE or key_node.tag != _STR:
                    raise _Slow
                key = key_node.value
                if key in out or (_credential_key(key) and not _empty(item)):
                    raise _Slow
                if type(item) is not _SCALAR_NODE:
                    out[key] = walk(item, depth + 1)
                elif item.tag == _STR:  # most values: no call at all
                    out[key] = item.value
                else:
                    out[key] = scalar(item)
            return out
        if kind is _SEQ_NODE:
            if node.tag != _SEQ:
                raise _Slow
            items = node.value
            count += len(items)
            if count > MAX_NODES or depth >= MAX_DEPTH:
                raise _Slow
            return [(item.value if item.tag == _STR else scalar(item)) if type(item) is _SCALAR_NODE
                    else walk(item, depth + 1) for item in items]
        if kind is _SCALAR_NODE:
            return scalar(node)
        raise _Slow

    return walk(root, 0)


def _scalar(node: yaml.ScalarNode) -> Any:
    """A scalar's value as _Walk.scalar reads it when it finds no problem; raises _Slow otherwise."""
    tag, text = node.tag, node.value
    if tag == _STR or tag == _TIMESTAMP:  # timestamps stay text, as in _Walk.scalar
        return text
    if tag == _INT:
        if len(text) < 19 and text.isdigit() and text.isascii() and (text[0] != "0" or len(text) == 1):
            return int(text)  # what construct_yaml_int does with plain decimal digits (never too long here)
        return _converted(_constructor.construct_yaml_int, node)
    if tag == _BOOL:
        value = _BOOLS.get(text.lower())  # construct_yaml_bool's own table
        if value is None:
            raise _Slow
        return value
    if tag == _NULL:
        return None
    if tag == _FLOAT:
        return _converted(_constructor.construct_yaml_float, node)
    raise _Slow


def _converted(construct, node: yaml.ScalarNode) -> Any:
    try:
        return construct(node)
    except (ValueError, KeyError, yaml.YAMLError):  # _Walk.scalar reports it
        raise _Slow from None


def _bad_tag(tag: str) -> str:
    return f"unsupported YAML tag {secrets.redact(tag)!r}: only plain YAML types are allowed"


def _loose_tokens(text: str, shown: str, skip: set[int]) -> list[Problem]:
    """Token-shaped text the walk did not see (comments, or a file that does not parse): a
    credential pasted into a comment is still in the content, so it is still an error."""
    out = []
    for offset, kind in secrets.find_tokens(text):
        line = text.count("\n", 0, offset)
        if line not in skip:
            col = offset - (text.rfind("\n", 0, offset) + 1) + 1
            out.append(Problem(shown, line + 1, col, f"text looks like a {kind}: remove it (a preview holds no "
                                                     "secrets, not even in a comment)"))
            skip = skip | {line}
    return out


def _empty(node: yaml.Node) -> bool:
    if isinstance(node, yaml.ScalarNode):
        return node.tag == _T + "null" or node.value.strip() == ""
    return not node.value


class _Stop(Exception):
    def __init__(self, node: yaml.Node):
        self.node = node


class _TooBig(_Stop):
    message = f"too many values after expanding aliases (more than {MAX_NODES}): is this an alias bomb?"


class _TooDeep(_Stop):
    message = f"nested more than {MAX_DEPTH} levels deep"


class _Recursive(_Stop):
    message = "an alias refers to a value that contains it (recursive alias)"


def read(file: Path, shown: str, raw: bytes | None = None) -> tuple[YamlDoc | None, list[Problem]]:
    """Parse file (or its bytes, already read); return (doc, problems). doc is None when nothing
    usable could be read."""
    try:
        if raw is None:
            raw = file.read_bytes()
    except OSError as exc:
        return None, [Problem(shown, 1, 1, f"cannot read file: {exc.strerror or exc}")]
    if len(raw) > MAX_BYTES:
        return None, [Problem(shown, 1, 1, f"file is {len(raw)} bytes, more than the {MAX_BYTES} allowed")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [Problem(shown, line, col, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})")]
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.reader.ReaderError as exc:
        # A control character. Placed here: the reader's own message ran over two lines and gave a
        # byte offset (libyaml) instead of a line. The first such character is the one it stopped at.
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        index = max(text.find(char), 0)
        line, col = text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1
        return None, [Problem(shown, line, col, f"control character U+{ord(char):04X} is not allowed in YAML"),
                      *_loose_tokens(text, shown, set())]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        # The parser's messages can quote an anchor, alias or tag name: never a token in them.
        return None, [Problem(shown, line, col, f"YAML syntax error: {secrets.redact(what)}"),
                      *_loose_tokens(text, shown, set())]
    except yaml.YAMLError as exc:
        return None, [Problem(shown, 1, 1, f"YAML error: {secrets.redact(str(exc))}"), *_loose_tokens(text, shown, set())]
    except RecursionError:
        return None, [Problem(shown, 1, 1, "nested too deeply to read")]
    if root is None:
        return None, [Problem(shown, 1, 1, "file is empty"), *_loose_tokens(text, shown, set())]
    # Scalars are only checked one by one when the file has a token-shaped string somewhere, or
    # a backslash (an escape can spell a token the raw text does not show): most files have
    # neither, and one pass over the text is far cheaper than one per value.
    tokens = "\\" in text or bool(secrets.find_tokens(text))
    if not tokens:
        try:
            return YamlDoc(shown, _plain(root), root), []  # no problem found, no token in the text
        except _Slow:
            pass
    walk = _Walk(shown)
    walk.tokens = tokens
    try:
        data = walk.value(root)
    except _Stop as stop:
        walk.fail(stop.node, stop.message)
        return None, walk.problems + _loose_tokens(text, shown, walk.secret_lines)
    return YamlDoc(shown, data, root), walk.problems + _loose_tokens(text, shown, walk.secret_lines)
