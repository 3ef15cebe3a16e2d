"""Stage 1, load: read every content file, validate it against the models, collect every problem.

Nothing stops at the first error: a run reports all problems of all files, sorted by file and
line. Cross-file rules (catalog look-ups) are resolve's job.
"""
from __future__ import annotations

import heapq
import itertools
import os
import stat
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel, TypeAdapter, ValidationError

from . import models, secrets, yamldoc
from .problems import ContentError, Problem
from .yamldoc import YamlDoc

CATALOG_FILES = {
    "platforms": models.Platform,
    "actions": models.Action,
    "reasons": models.Reason,
    "profiles": models.Profile,
    "labels": None,  # a mapping of label id -> text
}
SOURCE_SUFFIXES = (".yaml", ".yml")


@dataclass
class Loaded:
    """One validated file: its model and the doc to place later problems in."""

    model: Any
    doc: YamlDoc


@dataclass
class LoadedSource(Loaded):
    slug: str = ""


@dataclass
class Content:
    root: Path
    site: Loaded
    catalog: dict[str, list[Loaded] | Loaded]
    sources: list[LoadedSource]
    warnings: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # errors of files that did not validate

    @property
    def complete(self) -> bool:
        """Site and catalog all validated, so the sources can be checked against them."""
        return self.site is not None and len(self.catalog) == len(CATALOG_FILES)


def shown(path: Path, root: Path) -> str:
    """How a content path is named in messages: relative to the current folder where it can be.

    The path itself, not where a symbolic link leads (that named the target instead of the file,
    and a link loop raised a traceback); a token-shaped file name is redacted like any message,
    and a newline or other unprintable character in a name is escaped (one problem, one line).
    """
    try:
        text = str(Path(os.path.abspath(path)).relative_to(Path.cwd().resolve()))
    except ValueError:
        text = str(path)
    return _printable(text)


def _printable(text: str) -> str:
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return secrets.redact(text)


def _outside(path: Path, real_root: Path) -> bool:
    """A file that leads out of the content folder (a symbolic link), or a link loop."""
    try:
        return not path.resolve().is_relative_to(real_root)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
        return True


def _validate(adapter: TypeAdapter | type[BaseModel], doc: YamlDoc, problems: list[Problem]) -> Any:
    try:
        if isinstance(adapter, TypeAdapter):
            return adapter.validate_python(doc.data)
        return adapter.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, doc))
        return None


def validation_problems(exc: ValidationError, doc: YamlDoc, prefix: tuple = ()) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            out.append(doc.problem(loc, f"unknown key {str(loc[-1])!r}", key=True))
            continue
        if kind == "missing":
            out.append(doc.problem(loc[:-1], f"missing required key {str(loc[-1])!r}"))
            continue
        # A key is quoted when it is not plain printable text: a newline in a label id broke the
        # one-problem-per-line format.
        where = ".".join(str(p) if str(p).isprintable() else repr(str(p)) for p in loc) or "file"
        if kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            message = f"{where}: {_short(err['input'])} is not allowed; expected one of {expected}"
        elif kind in ("model_type", "dict_type") and not loc:
            message = f"the file must be a mapping of keys to values, not {_kind(err['input'])}"
        else:
            text = err["msg"].removeprefix("Value error, ")
            message = f"{where}: {text[0].lower() + text[1:]}" + (
                f" (got {_kind(err['input'])})" if kind.endswith("_type") else ""
            )
        out.append(doc.problem(loc, message))
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number", type(None): "nothing (null)"}.get(type(value), type(value).__name__)


def _read(path: Path, root: Path, problems: list[Problem]) -> YamlDoc | None:
    doc, found = yamldoc.read(path, shown(path, root))
    problems.extend(found)
    return doc  # still validated when it has problems: every error of a file shows in one run


_LIST_ADAPTERS = {name: TypeAdapter(list[model]) for name, model in CATALOG_FILES.items() if model}
_LABELS = TypeAdapter(models.Labels)


def load(content_dir: Path) -> Content:
    """Read and validate the whole content folder; raise ContentError with every problem."""
    content = load_all(content_dir)
    if content.problems:
        raise ContentError(content.problems + content.warnings)
    return content


def load_all(content_dir: Path) -> Content:
    """Read and validate what can be: the files that validated, and the problems of the others,
    so that resolve can still check the valid sources and a run reports every error at once."""
    head = load_head(content_dir)
    files, problems, warnings = list_sources(head.root)
    problems = head.problems + problems
    sources = []
    for file in files:
        loaded, found = load_source(file)
        problems.extend(found)
        if loaded is not None:
            sources.append(loaded)
    return Content(head.root, head.site, head.catalog, sources, head.warnings + warnings, problems)


@dataclass
class Head:
    """site.yaml and the catalog: what every source is checked and rendered against."""

    root: Path
    site: Loaded | None
    catalog: dict[str, Loaded]
    problems: list[Problem]
    warnings: list[Problem]


def load_head(content_dir: Path) -> Head:
    root = Path(content_dir)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    if not root.is_dir():
        raise ContentError([Problem(str(root), 1, 1, "content folder not found")])

    site = None
    site_path = root / "site.yaml"
    real_root = root.resolve()
    if not site_path.is_file():
        problems.append(Problem(shown(site_path, root), 1, 1, "site.yaml is missing"))
    elif _outside(site_path, real_root):  # as for sources: a build reads only its content folder
        problems.append(Problem(shown(site_path, root), 1, 1, "links to a file outside the content folder: refused"))
    elif doc := _read(site_path, root, problems):
        if (model := _validate(models.Site, doc, problems)) is not None:
            site = Loaded(model, doc)

    catalog: dict[str, Any] = {}
    for name, model in CATALOG_FILES.items():
        path = root / "catalog" / f"{name}.yaml"
        if not path.is_file():
            problems.append(Problem(shown(path, root), 1, 1, f"catalog file {name}.yaml is missing"))
            continue
        if _outside(path, real_root):  # as for sources: a build reads only its content folder
            problems.append(Problem(shown(path, root), 1, 1, "links to a file outside the content folder: refused"))
            continue
        doc = _read(path, root, problems)
        if doc is None:
            continue
        adapter = _LIST_ADAPTERS.get(name, _LABELS)
        value = _validate(adapter, doc, problems)
        if value is not None:
            catalog[name] = Loaded(value, doc)
    for extra in sorted((root / "catalog").glob("*")) if (root / "catalog").is_dir() else []:
        if extra.stem not in CATALOG_FILES and not extra.name.startswith("."):
            warnings.append(Problem(shown(extra, root), 1, 1, "not a catalog file: ignored", "warning"))
    return Head(root, site, catalog, problems, warnings)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A listed source file. Its slug and signature are made when asked for."""

    folder: Path
    name: str
    shown_folder: str  # how messages name its folder
    mtime_ns: int
    size: int

    @property
    def slug(self) -> str:
        return self.name.rpartition(".")[0]

    @property
    def signature(self) -> tuple[int, int]:
        """(mtime_ns, size): a cheap "unchanged?" before any hashing."""
        return self.mtime_ns, self.size

    @property
    def shown(self) -> str:
        """How messages name it (made when a message needs it)."""
        return _printable(f"{self.shown_folder}/{self.name}")

    @property
    def path(self) -> Path:
        # Made when the file is read: a Path for each of thousands of listed files cost more
        # than listing them (a rebuild lists them all and reads one).
        return self.folder / self.name


class SourceList:
    """The listed source files in slug order, kept as one string of slugs, their suffixes and two
    arrays of signatures; a SourceFile is made for one when it is asked for. A build keeps the
    list to its end, and at 100,000 sources this is 4 MB, where a list of SourceFile was 22."""

    __slots__ = ("folder", "shown_folder", "_slugs", "_ends", "_suffixes", "_mtimes", "_sizes")

    def __init__(self, folder: Path, shown_folder: str, slugs: str, ends: array, suffixes: bytearray,
                 mtimes: array, sizes: array):
        """slugs: every slug, one after another; ends: where each ends in it."""
        self.folder, self.shown_folder = folder, shown_folder
        self._slugs, self._ends = slugs, ends
        self._suffixes = bytes(suffixes)  # each file's place in SOURCE_SUFFIXES
        self._mtimes, self._sizes = mtimes, sizes

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> SourceFile:
        if not -len(self._ends) <= index < len(self._ends):
            raise IndexError("source file index out of range")
        index %= len(self._ends)
        start = self._ends[index - 1] if index else 0
        name = self._slugs[start:self._ends[index]] + SOURCE_SUFFIXES[self._suffixes[index]]
        return SourceFile(self.folder, name, self.shown_folder, self._mtimes[index], self._sizes[index])

    def __iter__(self) -> Iterator[SourceFile]:
        return map(self.__getitem__, range(len(self._ends)))

    def clear(self) -> None:
        """Let go of every listed file: a build's process is at its largest after its sources
        are read, making the site-level files, and needs the list no more."""
        self._slugs, self._ends, self._suffixes = "", array("q"), b""
        self._mtimes, self._sizes = array("q"), array("q")

    def signatures(self) -> Iterator[tuple[str, int, int]]:
        """(slug, mtime_ns, size) of each file, in order, with no SourceFile made: a rebuild
        compares them all."""
        slugs, start = self._slugs, 0
        for end, mtime, size in zip(self._ends, self._mtimes, self._sizes):
            yield slugs[start:end], mtime, size
            start = end


_SUFFIX_PLACE = {suffix[1:]: place for place, suffix in enumerate(SOURCE_SUFFIXES)}
_NAMES_AT_ONCE = 4096  # file names sorted, and looked over for a token's prefix, at once


def _names_in_order(folder: Path) -> tuple[bool, Iterator[str]]:
    """Whether any of the folder's file names may hold a token, and the names by slug and then
    name: sorted as they are with each "." a NUL ("." sorts after "-": by name "a-b.yaml" comes
    before "a.yaml"; NUL before any character a name can hold).

    Never all the names at once as strings: they are read _NAMES_AT_ONCE at a time, each run
    sorted and kept as one string of bytes, joined by "/" (which no name holds), and the runs are
    merged. A list of every name, sorted, grew listing 100,000 files by 12 MB.
    """
    runs: list[bytes] = []
    suspect = False
    with os.scandir(folder) as entries:  # names only: a DirEntry at a time
        keys = (entry.name.replace(".", "\0") for entry in entries)
        while run := sorted(itertools.islice(keys, _NAMES_AT_ONCE)):
            joined = "/".join(run).encode("utf-8", "surrogateescape")
            # A slug ends up in page names, links and sources.json, so no name may hold a token.
            # One look for a token's prefix over thousands of names at once first (a NUL starts
            # a word, as the start of a name does): most listings hold none, and a search per
            # name was a third of the time of listing 10,000 files.
            suspect = suspect or secrets.may_hold_token(joined.replace(b"\0", b".").replace(b"/", b"\0"))
            runs.append(joined)
    ordered = heapq.merge(*[_run(runs.pop()) for _ in range(len(runs))])
    return suspect, (key.replace("\0", ".") for key in ordered)


def _run(joined: bytes) -> Iterator[str]:
    """The names of one sorted run, one by one (its bytes are let go of with the last)."""
    start, size = 0, len(joined)
    while start < size:
        end = joined.find(b"/", start)
        end = size if end < 0 else end
        yield joined[start:end].decode("utf-8", "surrogateescape")
        start = end + 1


def list_sources(root: Path) -> tuple[SourceList, list[Problem], list[Problem]]:
    """The source files, in slug order; problems of names and clashes; ignored files."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    folder = root / "sources"
    shown_folder = shown(folder, root)  # each file's name in messages: this, "/", its name
    slugs = bytearray()  # ASCII, as models.SLUG has it: a byte a character, where StringIO took four
    ends, suffixes, mtimes, sizes = array("q"), bytearray(), array("q"), array("q")

    def listed() -> tuple[SourceList, list[Problem], list[Problem]]:
        return SourceList(folder, shown_folder, slugs.decode("ascii"), ends, suffixes, mtimes, sizes), problems, warnings
    if not folder.is_dir():
        problems.append(Problem(shown_folder, 1, 1, "sources folder is missing"))
        return listed()
    real_root = root.resolve()
    if _outside(folder, real_root):
        problems.append(Problem(shown_folder, 1, 1, "links to a folder outside the content folder: refused"))
        return listed()
    # The last file that claimed a slug: in slug order, the files of one slug are next to each
    # other, so that is all a clash needs to see, not a dictionary of every slug.
    last_slug, last_name = None, ""

    def name_of(file_name: str) -> str:  # only for a message: most builds write none
        return _printable(f"{shown_folder}/{file_name}")

    base = str(folder) + os.sep
    suspect, names = _names_in_order(folder)
    for file_name in names:
        if file_name.startswith("."):
            continue
        if suspect and (kind := secrets.find_token(file_name)):
            problems.append(Problem(name_of(file_name), 1, 1, f"file name looks like a {kind}: rename the file"))
            continue
        slug, dot, suffix = file_name.rpartition(".")
        place = _SUFFIX_PLACE.get(suffix)
        if not dot or place is None or not slug:
            warnings.append(Problem(name_of(file_name), 1, 1, "not a .yaml file: ignored", "warning"))
            continue
        try:
            info = os.lstat(base + file_name)
            if stat.S_ISLNK(info.st_mode):
                if _outside(folder / file_name, real_root):
                    problems.append(Problem(name_of(file_name), 1, 1, "links to a file outside the content folder: refused"))
                    continue
                info = os.stat(base + file_name)
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            problems.append(Problem(name_of(file_name), 1, 1, "not a regular file"))
            continue
        if not models.SLUG.match(slug):
            problems.append(Problem(name_of(file_name), 1, 1, f"file name {slug!r} is not a valid slug "
                                    "(lower-case letters, digits and '-', at most 64, starting with a letter or digit)"))
            continue
        if slug == last_slug:
            problems.append(Problem(name_of(file_name), 1, 1, f"slug {slug!r} is already used by {name_of(last_name)}"))
            continue
        last_slug, last_name = slug, file_name
        slugs += slug.encode("ascii")
        ends.append(len(slugs))
        suffixes.append(place)
        mtimes.append(info.st_mtime_ns)
        sizes.append(info.st_size)
    return listed()


def load_source(file: SourceFile, raw: bytes | None = None) -> tuple[LoadedSource | None, list[Problem]]:
    """One source file, validated: (the source or None, its problems)."""
    problems: list[Problem] = []
    doc, found = yamldoc.read(file.path, file.shown, raw)
    problems.extend(found)
    if doc is None:
        return None, problems
    model = _validate(models.Source, doc, problems)
    if model is None or problems:
        return None, problems
    return LoadedSource(model, doc, file.slug), problems
