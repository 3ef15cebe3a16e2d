"""The build engine: the pipeline run source by source, over both cores, with a build store.

A source's own files (its health page, history page and badge) depend only on its file and on
the "head" (site.yaml, the catalog, the templates, the code, the profile). So each source goes
through load -> resolve -> render in a worker process, on its own, and its results go into the
store (store.py), keyed by the file's signature. The site-level files (dashboard, filter pages,
sources.json) are then streamed out of the store in the main process, which holds no source.
The leak scan reads what was written; the write is a swap of the whole folder (cold build) or,
when the previous output is intact and the head unchanged, a journaled replacement of just the
files whose bytes changed (incremental build). Either way the output equals a cold build, byte
for byte.
"""
from __future__ import annotations

import collections
import contextlib
import gc
import hashlib
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import jinja2

from . import resolve as resolving
from . import scanworkers, verify, views
from .load import CATALOG_FILES, LoadedSource, SourceFile, list_sources, load_head, load_source
from .problems import ContentError, OutputError, Problem
from .render import Dashboard, Renderer, export_entry_text
from .store import MEMORY, Store  # noqa: F401  (MEMORY: serve's in-process cache)
from .store import texts as store_texts
from .write import Staging, check_output_location

CACHE_VERSION = 1
PARALLEL_FROM = 200  # fewer changed sources than this are processed in the main process
RACY_NS = 2_000_000_000  # the coarsest clock of a filesystem in use (FAT's): see _build
FRESH_FROM = 50_000  # canaries from which a scan's automaton (about 230 bytes each) is made apart
PARTS_UP_TO = 4_000_000  # characters of changed rows up to which a rebuild scans its site-level pages as parts
STREAM_FROM = 2_000  # shown sources from which a rebuild's site-level files (3.4 KB a source) are
                     # scanned as they are written, by workers started for it (about 0.15 s)
WORDS_KEPT = 200_000  # words a process keeps of those it gave (Store.add_words): about 15 MB at most
WORDS_LOOKED_UP = 1_000  # canaries a rebuild added up to which it looks them up in the words first
_CODE = Path(__file__).resolve().parent


@dataclass
class SourceResult:
    """What one source contributes to the site: kept in the store, keyed by its file's signature."""

    slug: str
    signature: tuple[int, int]
    errors: list[Problem]
    digest: bytes = b""  # of the file's bytes as they were read (see Store.compare)
    warnings: list[Problem] = field(default_factory=list)
    refs: tuple[str, ...] = ()
    foreign_names: tuple[str, ...] = ()  # names of another profile's source or accounts
    shown_text: str = ""  # authorized sources: the text their pages show
    summary: tuple[str, str] | None = None  # authorized sources: (status, platform id)
    rank: int = 0  # authorized sources: the dashboard's order, severity then name
    sort_name: str = ""
    entry: bytes = b""  # authorized sources: its sources.json line
    rows: tuple[str, str] = ("", "")  # authorized sources: its dashboard rows (index, filter pages)
    rows_suspect: bool = False  # does the first look for active content stop at one of them?
    outputs: dict[str, str] = field(default_factory=dict)  # relpath -> sha256 of its files
    as_shown: list[str] = field(default_factory=list)  # those of its files that read as shown (verify.reads_as_shown)
    words: list[bytes] = field(default_factory=list)  # its files' words (verify.words_of) this process had not yet given
    leaks: list = field(default_factory=list)  # token shapes or active content in its files


@dataclass
class EngineResult:
    site: views.SiteView  # the site's copy and counts (its sources are in the store, not here)
    sources: int
    warnings: list[Problem]
    files: int
    pages: int
    mode: str  # "cold" | "incremental" | "unchanged"
    rendered: int  # sources processed (not taken from the cache)
    written: int  # files written or replaced
    deleted: int


class _Clock:
    """Phase times on stderr when HEALTHSITE_TIMING is set (the benchmark's breakdown)."""

    def __init__(self):
        self.on = bool(os.environ.get("HEALTHSITE_TIMING"))
        self.last = time.perf_counter()
        self.phases: list[tuple[str, float]] = []

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        if self.on:  # and the peak memory so far, to see which phase grows it
            import resource
            name += f" [{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB]"
        self.phases.append((name, now - self.last))
        self.last = now

    def report(self) -> None:
        if self.on:
            print("timing: " + ", ".join(f"{n} {s:.2f}s" for n, s in self.phases), file=sys.stderr)


# ---- the per-source job ------------------------------------------------------------------------
@dataclass
class _Context:
    catalog: resolving.Catalog
    authorized: str
    shell: views.SiteView
    renderer: Renderer
    stage: Path | None  # where a worker writes a source's files
    # The words this process has given in a result of this build, which the build keeps
    # (Store.add_words): the rest of a page's are mostly the template's, in every page. None: no
    # words are gathered (a build without a cache has no next build to look them up).
    words: set[bytes] | None = None


_CTX: _Context | None = None  # set before the workers fork, so they inherit it


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


def _still(file: SourceFile, digest: bytes) -> bool:
    """Are the file's bytes still those of the digest?"""
    try:
        return _source_digest(file.path.read_bytes()) == digest
    except OSError:  # gone or unreadable since it was listed: read again, to say so
        return False


def process(file: SourceFile) -> SourceResult:
    """One source through load, resolve and render; its files written to the staging folder."""
    ctx = _CTX
    try:
        raw = file.path.read_bytes()
    except OSError as exc:
        return SourceResult(file.slug, file.signature, [Problem(file.shown, 1, 1, f"cannot read file: {exc.strerror}")])
    loaded, errors = load_source(file, raw)
    if loaded is not None:
        errors += resolving.cross_check(loaded, ctx.catalog)
    if loaded is None or errors:
        return SourceResult(file.slug, file.signature, errors)
    return _resolved(file, loaded, ctx, _source_digest(raw))


def _resolved(file: SourceFile, loaded: LoadedSource, ctx: _Context, digest: bytes) -> SourceResult:
    m = loaded.model
    result = SourceResult(file.slug, file.signature, [], digest, resolving.lint(loaded, ctx.catalog))
    result.refs = tuple(a.ref for a in m.external_accounts)
    mine = m.profile == ctx.authorized
    result.foreign_names = tuple(([] if mine else [m.name]) +
                                 [a.name for a in m.external_accounts if not mine or a.profile != ctx.authorized])
    if not mine:
        return result
    view = resolving.source_view(loaded, ctx.catalog, ctx.authorized)
    # Checked again, on its own: only the authorized profile's text may exempt a name from the
    # leak scan, even if the filter above were ever lost.
    if m.profile == ctx.authorized:
        result.shown_text = "\n".join(resolving.shown_text(m) + [a.name for a in m.external_accounts
                                                                  if a.profile == ctx.authorized])
    for relpath, data in ctx.renderer.source_files(ctx.shell, view):
        result.leaks += verify.shape_leaks(relpath, data)  # the bytes written just below
        if ctx.stage is not None:
            _write(ctx, relpath, data)
        result.outputs[relpath] = _digest(data)
        as_shown = verify.reads_as_shown(data)
        if as_shown:
            result.as_shown.append(relpath)
        if ctx.words is not None:
            words = verify.words_of(data, as_shown)
            words -= ctx.words
            result.words += words
            ctx.words |= words
    if ctx.words is not None and len(ctx.words) > WORDS_KEPT:  # given again if seen again: the store keeps each once
        ctx.words.clear()
    result.entry = export_entry_text(view)
    result.rows = ctx.renderer.rows(ctx.shell, view)
    result.rows_suspect = any(map(verify.looks_active, result.rows))
    result.summary = (view.status, view.platform.id)
    result.rank, result.sort_name = resolving.STATUS_ORDER.index(view.status), view.name.casefold()
    return result


def _write(ctx: _Context, relpath: str, data: bytes) -> None:
    """A source's file into the staging folder: plain system calls, and each folder made once per
    process (a build writes tens of thousands of small files; Path.write_bytes and an mkdir per
    file cost more than the writing)."""
    folder, _, _ = relpath.rpartition("/")
    base = str(ctx.stage)
    try:
        if folder and (base, folder) not in _MADE:
            os.makedirs(f"{base}/{folder}", exist_ok=True)
            _MADE.add((base, folder))
        fd = os.open(f"{base}/{relpath}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # as open() does: the umask decides
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {relpath}: {exc.strerror or exc}") from None


_MADE: set[tuple[str, str]] = set()  # (staging folder, sub-folder) made by this process


def _parts(result: SourceResult) -> tuple[tuple, tuple]:
    """What a source puts on the site-level pages, and what it adds to the canaries, as
    Store.previous reads them back: if neither changed, the site-level files and the canaries
    need not be made again."""
    s = result.summary
    return ((int(s is not None), result.rank, result.sort_name, s and s[0], s and s[1], *result.rows, result.entry),
            (*store_texts(result.refs, result.foreign_names), result.shown_text))


# A source that adds nothing to the canaries, as _parts gives it: what one that was not there had.
_NO_CANARIES = (*store_texts((), ()), "")


def _counted(parts: tuple) -> tuple:
    """What of a source's site parts the counts depend on: shown, status, platform."""
    return parts[0], parts[3], parts[4]


@dataclass(frozen=True)
class _CanarySet:
    """Canaries to scan for: their digest, a function that streams their lines (as
    Store.canary_lines makes them) each time it is called, and how many there are. kept: an
    automaton of them made in this process is kept (one at a time: the build's canaries, not the
    few a rebuild added to them)."""
    key: str
    lines: Callable[[], Iterable[str]]
    count: int
    kept: bool = True

    def scanner(self) -> verify.Scanner:
        return verify.Scanner.from_lines(self.lines())


def _all_canaries(store: Store, key: str) -> _CanarySet:
    return _CanarySet(key, store.canary_lines, store.canary_count())


def _added_canaries(store: Store) -> _CanarySet:
    """The canaries this build added to those set aside (Store.set_canaries_aside)."""
    key, count = store.added_canaries()
    return _CanarySet(key, store.added_canary_lines, count, kept=False)


def _canaries(store: Store, head, catalog, authorized: str, names: bool = True) -> str:
    """Make the canaries from every source's parts in the store, and keep them there; their
    digest. The names are in this process only as a Scanner of them, the refs never. names:
    make the names too; else they are those set aside (Store.set_canaries_aside), and only the
    refs are made again (a ref edited, a source added or gone that changed no name: the names
    need every shown text scanned, 0.2 s at 10,000 sources)."""
    if not names:
        return store.set_canaries(None)
    store.set_foreign_names(resolving.FOREIGN_NAME_MIN)
    return store.set_canaries(resolving.shown_names(head, catalog, authorized, _foreign_names(store),
                                                    store.shown_texts()))


def _names_in(store: Store, texts: list[str]) -> bool:
    """Is any foreign name of the last build (canary or shown) in one of texts?"""
    return bool(texts) and bool(_foreign_names(store).words_in(texts))


def _foreign_names(store: Store) -> verify.Scanner:
    """The store's foreign names (canaries or shown) as a Scanner. serve's is kept, for each set
    of them (their digest): serve checks every edit of a shown text against them, and at 100,000
    sources making the Scanner of their 30,000 took 0.66 s of a one-edit rebuild's 4.5 (under the
    profiler). A one-off build lets it go (1 MB at 100,000 sources, at the time of its peak)."""
    global _NAMES
    if not store.resident:
        return verify.Scanner.from_lines(store.foreign_name_lines())
    key = store.meta("names")
    if key is None or _NAMES is None or _NAMES[0] != key:
        _NAMES = None  # the old one goes before the new one is made
        _NAMES = (key, verify.Scanner.from_lines(store.foreign_name_lines()))
    return _NAMES[1]


_NAMES: tuple[str | None, verify.Scanner] | None = None


# ---- the build ---------------------------------------------------------------------------------
def _head_key(content: Path, templates: Path, authorized: str) -> str:
    """Everything a source's own files depend on besides the source: a change rebuilds them all."""
    h = hashlib.sha256(f"{CACHE_VERSION}\0{authorized}\0".encode())
    files = [content / "site.yaml", *sorted((content / "catalog").glob("*"))]
    files += sorted(p for p in templates.rglob("*") if p.is_file())
    files += sorted(_CODE.glob("*.py"))
    for path in files:
        h.update(str(path.name).encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"\1missing")
    return h.hexdigest()


def run(content: Path, out: Path, profile: str | None, strict: bool, templates: Path,
        cache_dir: Path | None, jobs: int | None = None, progress=None) -> EngineResult:
    """Build content into out. Raise ContentError, LeakError (pipeline), RenderError, OutputError."""
    recover(out)
    check_output_location(out, content)
    head = load_head(content)
    listed_at = time.time_ns()  # before any file's signature is taken
    files, list_problems, list_warnings = list_sources(head.root)
    with contextlib.ExitStack() as early:
        if cache_dir not in (None, MEMORY) and len(files) >= STREAM_FROM and _workers(jobs) > 1:
            # A rebuild of this many sources scans on workers when its canaries or site-level
            # files change: their server starts now, beside the steps before (scanworkers.start_early).
            scanworkers.start_early()
            early.callback(scanworkers.release_server)
        problems = head.problems + list_problems
        if not (head.site is not None and len(head.catalog) == len(CATALOG_FILES)):
            # Nothing to check the sources against: report what can be read, file by file.
            for file in files:
                problems += load_source(file)[1]
            raise ContentError(problems + head.warnings + list_warnings)
        catalog, authorized = resolving.resolve_head(head, problems, profile)
        shell = resolving.site_view(head, catalog, authorized, ())
        head_key = _head_key(head.root, templates, authorized)
        out_key = str(out.resolve())

        store = Store.open(cache_dir)
        try:
            with store.transaction():
                return _build(store, head, catalog, authorized, shell, head_key, out_key, files, listed_at, problems,
                              list_warnings, content, out, strict, _renderer(templates, cache_dir), jobs, progress)
        finally:
            store.close()


def _renderer(templates: Path, cache_dir: Path | None) -> Renderer:
    """The process's renderer for templates; with a cache folder, the compiled templates are kept
    there too (Jinja checks each against its template's source), so a command-line rebuild does
    not compile them again."""
    renderer = Renderer.for_folder(templates)
    renderer.env.bytecode_cache = None
    if cache_dir is not None and cache_dir != MEMORY:
        folder = Path(cache_dir) / "templates"
        folder.mkdir(parents=True, exist_ok=True)
        renderer.env.bytecode_cache = jinja2.FileSystemBytecodeCache(str(folder))
    renderer.fresh()
    return renderer


def _build(store: Store, head, catalog, authorized, shell, head_key, out_key, files, listed_at: int, problems,
           list_warnings, content, out, strict, renderer, jobs, progress) -> EngineResult:
    from .pipeline import LeakError  # the error type the command line reports

    clock = _Clock()
    warm = store.meta("head") == head_key and store.meta("out") == out_key and store.intact(out)
    if not warm:
        store.reset()
    last_listed = store.meta("listed")
    # A file may have changed again since the last build read it, keeping its size, in the same
    # tick of its filesystem's clock (2 s on FAT, 1 s on HFS+, a few ms elsewhere): a file last
    # written less than RACY_NS before that build listed its files is read and its bytes compared.
    racy_from = int(last_listed) - RACY_NS if last_listed else None
    todo, gone = store.compare(files, racy_from, _still)
    clock("prepare")

    with Staging(out, content) as stage, contextlib.ExitStack() as stack:
        global _CTX
        _CTX = _Context(catalog, authorized, shell, renderer, stage.root, set() if store.kept else None)
        leaks: list[verify.Leak] = []
        # Source files whose bytes are new: listed for a rebuild; a cold build writes them all,
        # and they are read back from the store (at 100,000 sources, 200,000 names).
        changed: list[str] = []
        new_count = 0
        deleted: list[str] = []
        site_dirty = not warm or bool(gone)  # do the dashboard, filters and sources.json change?
        refs_dirty = names_dirty = not warm  # do the canaries' refs change, and their names?
        # The filter pages whose rows changed; None: all of them (the counts changed, which every
        # dashboard page shows).
        touched: set[tuple[str, str]] | None = set() if warm and not gone else None
        shown_changed: list[str] = []  # the text before and after of sources whose shown text changed
        # The dashboard rows and sources.json entries that are new (None: too many to keep): with
        # each site-level page's text outside its rows, all of its text the last build's scan has
        # not seen (_scan_parts).
        new_rows: list[tuple[str, str]] | None = []
        new_size = 0
        if len(todo):
            renderer.preload()
        for result in _map(process, todo, jobs, progress):
            if result.errors:
                problems += result.errors
            if problems:
                # Keep reading, for every error of every file, and keep only what the report of
                # them needs: each source's warnings as they are now, not as the last build found
                # them (the store is rolled back when the build fails).
                if result.errors:
                    store.delete_sources([result.slug])
                else:
                    store.put(result)
                continue
            leaks += result.leaks
            if warm:
                before, now = store.previous(result.slug), _parts(result)
                if before is None or before[0] != now[0]:
                    site_dirty = True
                    if new_rows is not None:
                        rows = _new_rows(before, now)
                        new_rows += rows
                        new_size += sum(len(text) for _, text in rows)
                        if new_size > PARTS_UP_TO:
                            new_rows = None
                    if before is None or _counted(before[0]) != _counted(now[0]):
                        touched = None
                    elif touched is not None and now[0][0]:
                        touched |= {("status", now[0][3]), ("platform", now[0][4])}
                was = before[1] if before is not None else _NO_CANARIES
                refs_dirty = refs_dirty or was[0] != now[1][0]
                names_dirty = names_dirty or was[1] != now[1][1]
                if was[2] != now[1][2]:
                    shown_changed += [was[2], now[1][2]]
                old = store.files_of(result.slug)
                new = {p: d for p, d in result.outputs.items() if old.get(p) != d}
                deleted += [p for p in old if p not in result.outputs]
                store.delete_files(p for p in old if p not in result.outputs)
            else:
                new = result.outputs
            if warm:
                changed += new
            new_count += len(new)
            store.set_files(result.slug, new, result.as_shown)
            store.add_words(result.words)
            store.put(result)
        if problems:
            store.delete_sources(gone)
            raise ContentError(problems + head.warnings + list_warnings + store.warnings())
        for slug in gone:
            was = store.previous(slug)[1]
            refs_dirty = refs_dirty or was[0] != _NO_CANARIES[0]
            names_dirty = names_dirty or was[1] != _NO_CANARIES[1]
            if was[2]:
                shown_changed.append(was[2])
            old = store.files_of(slug)
            deleted += old
            store.delete_files(old)
        store.delete_sources(gone)
        warnings = head.warnings + list_warnings + store.warnings()
        if strict and warnings:
            raise ContentError([w.as_error() for w in warnings])
        processed = len(todo)
        clock(f"sources ({processed})")
        del todo
        files.clear()  # 4 MB at 100,000 sources, and the peak of this process is still to come

        # A changed shown text changes the canaries only if a foreign name is in it, before or after
        # (a name the site shows anyway is no canary).
        last_key = store.meta("canaries")
        names_dirty = names_dirty or last_key is None or _names_in(store, shown_changed)
        if names_dirty or refs_dirty:
            if warm and last_key is not None:
                store.set_canaries_aside()
            canary_key = _canaries(store, head, catalog, authorized, names=names_dirty)
        else:  # the last build's canaries: read only if a process has no scanner of them yet
            canary_key = last_key
        clock("canaries")
        # The sources' own files are scanned first: when they are many, on the scan's workers
        # while this process makes the site-level files (a core would be idle otherwise).
        scan = stack.enter_context(_Scan(_all_canaries(store, canary_key), store.resident, jobs))
        scan.begin([(stage.root, sorted(changed) if warm else store.source_paths(), False)])
        # A new canary may already be in an unchanged page (a ref pasted into a note before it was
        # any source's ref): the unchanged files, which the last build found clean of its
        # canaries, are scanned for those this build added, the sources' own files from now on
        # (the site-level ones once it is known which are unchanged).
        added_scan = None
        if warm and canary_key != last_key:
            added = _all_canaries(store, canary_key) if last_key is None else _added_canaries(store)
            if added.count:
                added_scan = stack.enter_context(_Scan(added, store.resident, jobs))
                rewritten = set(changed)
                if _words_may_hold(store, added):
                    added_scan.begin([(out, (p for p in store.source_paths(as_shown) if p not in rewritten), False,
                                       as_shown) for as_shown in (True, False)])

        platform_counts = store.counts("platform")
        total = sum(platform_counts.values())  # every shown source has one platform
        site = resolving.site_view(head, catalog, authorized, (), used=set(platform_counts))
        site_written: list[str] = []
        parts_scan = None  # the site-level pages scanned as their parts, and whether they are clean (a future)
        stream = False  # are the site-level files handed to the scan's workers as they are written?
        if site_dirty:
            status_counts = store.counts("status")
            # The dashboard's order is severity first: the worst status is the first one counted.
            worst = next((status for status in site.statuses if status_counts.get(status)), None)
            dashboard = Dashboard(total, status_counts, platform_counts, worst, store.rows, store.entries)
            old_site = store.files_of(None) if warm else {}
            new_site: dict[str, str] = {}  # site-level files whose bytes are new
            rendered: set[str] = set()
            # A rebuild's workers scan each new site-level file while this process makes the next
            # (a cold build's are busy with every source's pages by then).
            stream = warm and total >= STREAM_FROM and _workers(jobs) > 1
            # A page made of rows the last build found clean (and new ones) need not be scanned
            # whole: only its text outside the rows and the new rows (see _scan_parts).
            outside: dict[str, list[str]] | None = (
                {} if stream and new_rows is not None and not store.canary_may_cross_rows()
                and not store.rows_suspect() else None)
            if stream:  # the workers make their automaton while this process makes the pages; for
                # a few changed files and the pages' parts, one is enough (a core stays free)
                scan.ready(1 if outside is not None else None)
            for relpath, data in _CTX.renderer.site_files(site, dashboard, only=touched,
                                                          seams=None if outside is None else outside.__setitem__):
                rendered.add(relpath)
                if data is None:  # a filter page none of whose rows changed
                    continue
                if isinstance(data, bytes):
                    digest = _digest(data)
                    fresh = old_site.get(relpath) != digest
                    if fresh:
                        stage.put(relpath, data)
                else:  # a large file in pieces: written as it comes, dropped again if unchanged
                    digest = stage.put_pieces(relpath, data)
                    fresh = old_site.get(relpath) != digest
                    if not fresh:
                        stage.drop(relpath)
                if fresh:
                    site_written.append(relpath)
                    new_site[relpath] = digest
                    if stream and (outside is None or relpath not in outside):
                        scan.stream(stage.root, relpath)
                elif outside is not None:
                    outside.pop(relpath, None)
            if outside:
                parts_scan = _scan_parts(scan, outside, new_rows)
            gone_site = [p for p in old_site if p not in rendered]  # e.g. a platform no source uses now
            deleted += gone_site
            store.delete_files(gone_site)
            store.set_files(None, new_site)
        clock("site files")
        in_parts: list[str] = []  # the pages whose parts are clean: they need only the canaries this build added
        if parts_scan is not None:
            if parts_scan[1].result():
                in_parts = parts_scan[0]
            else:  # something in the parts (or where two meet): the pages in full, to say where
                for relpath in parts_scan[0]:
                    scan.stream(stage.root, relpath)

        # Every source's own files had their shapes scanned as they were rendered; here the
        # canaries over what is new, and the site-level files in full (or as their parts, above).
        leaks += scan.finish([(stage.root, [] if stream else sorted(site_written), True)])  # else streamed or in_parts
        site_paths = set(store.files_of(None))
        if added_scan is not None:
            site_rewritten = set(site_written)
            leaks += added_scan.finish([(out, sorted(p for p in site_paths if p not in site_rewritten), False),
                                        (stage.root, sorted(in_parts), False)])
        store.end_canaries_aside()
        clock("scan")
        if leaks:
            raise LeakError(_in_report_order(leaks, site_paths))

        written = sorted(changed) + site_written
        written_count = new_count + len(site_written)
        if not warm:
            stage.commit()
            mode = "cold"
        elif written or deleted:
            apply_journal(stage, out, written, sorted(deleted))
            mode = "incremental"
        else:
            mode = "unchanged"

    store.stamp(out, None if mode == "cold" else written)
    store.set_meta(head=head_key, out=out_key, canaries=canary_key, listed=str(listed_at))
    files_count, pages = store.file_count()
    clock("write")
    clock.report()
    return EngineResult(site, total, warnings, files_count, pages or 0, mode, processed, written_count, len(deleted))


def _words_may_hold(store: Store, added: _CanarySet) -> bool:
    """Could any of the canaries a rebuild added be in a source's unchanged file? Not if each
    has a word that none of their files has held (verify.may_hold): they are not read again."""
    if added.count > WORDS_LOOKED_UP:  # 0.3 ms a canary at 10,000 sources: read the files instead
        return True
    words = store.words()
    return any(verify.may_hold(words, json.loads(line[1:])) for line in added.lines())


def _new_rows(before: tuple | None, now: tuple) -> list[tuple[str, str]]:
    """A changed source's dashboard rows and sources.json entry (as text) that the last build did
    not have, each as (path, text), sources.json's named so."""
    return [("sources.json" if i == 7 else "index.html", part if i < 7 else part.decode("utf-8"))
            for i, part in enumerate(now[0][5:8], 5) if part and (before is None or before[0][i] != part)]


def _scan_parts(scan: "_Scan", outside: dict[str, list[str]], new_rows: list[tuple[str, str]],
                ) -> tuple[list[str], Future]:
    """Scan site-level pages as their parts (verify.parts_clean, on a scan worker): each one's
    text outside its rows (with the row beside it) and the rows no page of the last build had.
    The last build found its pages clean of its canaries and token shapes, so each row it had is
    clean of them, and nothing found in a page spans two rows (render._Ends.outside): what is in
    a page is in its parts. Active content depends on what is around it (a quote left open in
    the row before): no row may be one that the first look for it stops at (Store.rows_suspect),
    not only one of the last build's pages. The pages, and the future of whether their parts are
    clean."""
    pages, documents = [], []  # HTML, and sources.json (no active content looked for in it, as in the pages)
    for path, texts in itertools.chain(outside.items(), ((path, [text]) for path, text in new_rows)):
        (documents if path.endswith(".json") else pages).extend(texts)
    return list(outside), scan.submit(verify.parts_clean, scan.canaries.key, pages, documents)


def _in_report_order(leaks: list[verify.Leak], site_paths: set[str]) -> list[verify.Leak]:
    """The leaks as every build reports them, whatever it scanned when: the site-level files'
    by path, then the sources' own files' by path; each file's as they were found (shapes, then
    canaries, each by line)."""
    return sorted(leaks, key=lambda leak: (leak.file not in site_paths, leak.file))


def _map(func, items: Sequence, jobs: int | None, progress, parallel_from: int = PARALLEL_FROM, fresh=None):
    """func over items, over the cores when there are many; results in order. progress, if
    given, makes a context manager with update(n) for long runs (the command line's bar).
    fresh: (initializer, a function making its arguments) for workers that start from a small
    process of their own rather than a copy of this one (the scan: this process has grown with
    every source by then, and a forked worker's memory starts where this one's is); with fresh,
    items always go to a worker, if only one."""
    workers = _workers(jobs)
    parallel = (workers > 1 and len(items) >= parallel_from) or (fresh is not None and bool(items))
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(progress(len(items))) if progress and len(items) >= PARALLEL_FROM else None
        if parallel and fresh is not None:
            workers = min(workers, len(items))
            pool = _fresh_pool(stack, workers, fresh[0], fresh[1]())
        elif parallel:
            pool = _forked_pool(stack, workers)
        if parallel:
            stack.callback(pool.shutdown, cancel_futures=True)
            # A fresh worker has not imported this module, so it gets one item a call (the
            # scan's items are chunks of names already).
            chunksize = 1 if fresh is not None else max(1, min(64, len(items) // (workers * 16)))
            iterator = _in_order(pool, func, items, chunksize, ahead=workers * 4)
        else:
            iterator = map(func, items)
        for item in iterator:
            if bar is not None:
                bar.update(1)
            yield item


def _in_order(pool, func, items: Iterable, chunksize: int, ahead: int) -> Iterator:
    """pool.map(func, items, chunksize=chunksize), with at most ahead chunks handed out and not
    yet read back. Executor.map submits every chunk at once, each holding its items until it is
    done: every SourceFile of 100,000 made at once, where the listing keeps them as one string."""
    one = chunksize == 1  # an item a call, func itself: a fresh worker cannot unpickle _each
    pending: collections.deque = collections.deque()

    def oldest() -> Iterable:
        done = pending.popleft().result()
        return (done,) if one else done
    for chunk in (items if one else _batched(items, chunksize)):
        pending.append(pool.submit(func, chunk) if one else pool.submit(_each, func, chunk))
        if len(pending) > ahead:
            yield from oldest()
    while pending:
        yield from oldest()


def _each(func, chunk: tuple) -> list:
    return [func(item) for item in chunk]


def _workers(jobs: int | None) -> int:
    return min(jobs or os.cpu_count() or 1, 8)


def _forked_pool(stack: contextlib.ExitStack, workers: int) -> ProcessPoolExecutor:
    """A pool of workers forked from this process, stopped with stack. What they inherit is
    frozen out of the collector's reach, so no collection in a worker walks (and copies, page by
    page) the parent's heap; they collect less often, too: a source leaves almost no cycles."""
    gc.freeze()
    stack.callback(gc.unfreeze)
    return stack.enter_context(ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"),
                                                   initializer=_worker_started))


def _fresh_pool(stack: contextlib.ExitStack, workers: int, initializer, initargs: tuple) -> ProcessPoolExecutor:
    """A pool of scan workers forked from scanworkers' small server process (started for it,
    stopped with stack once the pool has shut down)."""
    scanworkers.hold_server()
    stack.callback(scanworkers.release_server)
    return stack.enter_context(ProcessPoolExecutor(max_workers=workers, mp_context=scanworkers.context(),
                                                   initializer=initializer, initargs=initargs))


def _worker_started() -> None:
    gc.set_threshold(20_000, 50, 100)


def _scan_items(groups: list[tuple], key: str) -> tuple[list, int]:
    """The scan's work: (key, folder, 256 relative paths joined by NUL and deflated, shapes
    too?, bytes read as shown?), and the number of files. groups: (folder, relative paths,
    shapes too?) and, if the files' bytes are known to read as shown, True. A pool holds every chunk until it is done, and a cold build
    hands over every source's files at once: 200,000 names as strings of their own are three
    times the memory of joined ones, and joined ones (6 MB at 100,000 sources) ten times that of
    deflated ones (paths in order begin alike; about 40 ms for 200,000)."""
    items: list[tuple[str, Path, bytes, bool]] = []
    total = 0
    for folder, names, shapes, *as_shown in groups:
        for chunk in _batched(names, 256):
            items.append((key, folder, zlib.compress("\0".join(chunk).encode("utf-8", "surrogateescape"), 1), shapes,
                          as_shown == [True]))
            total += len(chunk)
    return items, total


def _many(items: list, total: int, jobs: int | None) -> bool:
    """Enough files to scan over the cores."""
    return total >= PARALLEL_FROM and len(items) >= 2 and _workers(jobs) > 1


def _scan(items: list, total: int, canaries: _CanarySet, resident: bool, jobs: int | None) -> list[verify.Leak]:
    """Scan the chunks of files _scan_items made (total: how many files) for canaries. resident:
    serve's store, whose process keeps the automaton of its canaries from save to save."""
    if not items:
        return []
    # In a one-off build, workers of their own make the automaton of the canaries (this process
    # makes none): it is the largest thing a scan holds, and this process is already the largest.
    # For many files, over the cores; for a few, in one worker if the canaries are many, else
    # here. serve keeps one automaton in its own process from save to save (a save then rescans
    # in milliseconds), and its scan's workers, forked, share it.
    many = _many(items, total, jobs)
    jobs = jobs if many else 1
    apart = (not resident or not canaries.kept) and (
        many or (not verify.has_scanner(canaries.key) and canaries.count >= FRESH_FROM))
    with contextlib.ExitStack() as stack:
        if apart:
            canaries_file = stack.enter_context(_canaries_file(canaries))
            fresh = (verify.scan_worker_started, lambda: (canaries.key, canaries_file))
            return [leak for found in _map(verify.scan_chunk, items, jobs, None, parallel_from=2, fresh=fresh)
                    for leak in found]
        if not canaries.kept:  # here, with an automaton that goes when the files are scanned
            scanner = canaries.scanner()
            return [leak for item in items for leak in verify.scan_chunk(item, scanner)]
        verify.scanner_for(canaries.key, canaries.scanner)
        return [leak for found in _map(verify.scan_chunk, items, jobs, None, parallel_from=2) for leak in found]


class _Scan(contextlib.ExitStack):
    """A build's leak scan, begun early where that saves time: many files (a cold build's every
    source page) in a one-off build go to the scan's workers at once, and they scan them while
    this process makes the site-level files, which the workers then scan too. A one-off
    rebuild's site-level files can go to the workers one by one as they are written (stream).
    Fewer files, or serve's (its automaton is in its own process), are all scanned at the end, by
    _scan. The build puts the leaks in the order it reports them in (_in_report_order)."""

    def __init__(self, canaries: _CanarySet, resident: bool, jobs: int | None):
        super().__init__()
        self.canaries, self.resident, self.jobs = canaries, resident, jobs
        self.pool: ProcessPoolExecutor | None = None
        self.begun: list = []  # the chunks of the files begin was given, when they are scanned at the end
        self.feeder: _Feeder | None = None  # or what hands them to the pool
        self.total = 0  # files in them
        self.streamed: list[Future] = []  # the scans of the files stream was given

    def begin(self, groups: list[tuple]) -> None:
        """Groups of files (folder, relative paths, whether for shapes too, and True if their bytes
        read as shown) to scan; read at once."""
        self.begun, self.total = _scan_items(groups, self.canaries.key)
        if self.resident or not _many(self.begun, self.total, self.jobs):
            return
        canaries_file = self.enter_context(_canaries_file(self.canaries))
        workers = min(_workers(self.jobs), len(self.begun))
        self.pool = _fresh_pool(self, workers, verify.scan_worker_started, (self.canaries.key, canaries_file))
        self.callback(lambda: self.feeder.join())  # once the pool is shut down, below: at once
        self.callback(self.pool.shutdown, cancel_futures=True)
        self.feeder = _Feeder(self.pool, self.begun, ahead=16 * workers)
        self.begun = []
        self.feeder.start()

    def stream(self, folder: Path, relpath: str) -> None:
        """A file just written, to be scanned (shapes too) on the workers while this process
        makes the next: a rebuild's dashboard pages and sources.json, scanned whole, are large
        (34 MB at 10,000 sources), and a core would wait for them otherwise."""
        (item,), _ = _scan_items([(folder, [relpath], True)], self.canaries.key)
        self.streamed.append(self.submit(verify.scan_chunk, item))

    def submit(self, func, *args) -> Future:
        """func(*args) on a worker, which has the automaton of the canaries (verify.scanner_for)."""
        self.ready()
        return self.pool.submit(func, *args)

    def ready(self, workers: int | None = None) -> None:
        """Start the workers that stream and submit hand work to (workers, or one a core), each
        making its automaton."""
        if self.pool is None:
            workers = workers or _workers(self.jobs)
            if self.resident:  # serve's automaton, kept in its process: workers forked from it share it
                verify.scanner_for(self.canaries.key, self.canaries.scanner)
                self.pool = _forked_pool(self, workers)
            else:
                canaries_file = self.enter_context(_canaries_file(self.canaries))
                self.pool = _fresh_pool(self, workers, verify.scan_worker_started, (self.canaries.key, canaries_file))
            self.callback(self.pool.shutdown, cancel_futures=True)
            for _ in range(workers):  # a pool starts a worker for each task it is handed
                self.pool.submit(int)

    def finish(self, first: list[tuple]) -> list[verify.Leak]:
        """The leaks of every file (the streamed ones, first's and begin's); the workers are
        stopped."""
        first, before = _scan_items(first, self.canaries.key)
        with self:
            if self.pool is None:
                return _scan(first + self.begun, before + self.total, self.canaries, self.resident, self.jobs)
            futures = [self.pool.submit(verify.scan_chunk, item) for item in first]
            begun = [self.pool.submit(verify.scan_chunk, item) for item in self.begun]  # if no feeder has them
            return ([leak for future in self.streamed + futures for leak in future.result()]
                    + (self.feeder.result() if self.feeder is not None else [])
                    + [leak for future in begun for leak in future.result()])


class _Feeder(threading.Thread):
    """Hands the pool chunks to scan a few at a time, and gathers their leaks in order, while
    this process makes the site-level files: a worker must never wait for it. The pool holds each
    chunk it was handed, with its Future (about 1 KB), until it is done; a cold build's are every
    source's files, 780 chunks at 100,000 sources, and were all handed over at once."""

    def __init__(self, pool: ProcessPoolExecutor, items: list, ahead: int):
        super().__init__(name="healthsite-scan", daemon=True)
        self.pool, self.items, self.ahead = pool, collections.deque(items), ahead
        self.leaks: list[verify.Leak] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        pending: collections.deque = collections.deque()
        try:
            while self.items or pending:
                while self.items and len(pending) < self.ahead:
                    pending.append(self.pool.submit(verify.scan_chunk, self.items.popleft()))
                self.leaks += pending.popleft().result()
        except BaseException as exc:  # a worker's error, or the pool shut down: for result to raise
            self.error = exc

    def result(self) -> list[verify.Leak]:
        self.join()
        if self.error is not None:
            raise self.error
        return self.leaks


@contextlib.contextmanager
def _canaries_file(canaries: _CanarySet) -> Iterator[str]:
    """The canaries in a temporary file, for the scan's workers to read line by line (handed to
    them as a string, they would be all in memory at once, in this process and in each of
    theirs, beside the automaton); removed when the scan is done, failed or not."""
    fd, name = tempfile.mkstemp(prefix="healthsite-canaries-", suffix=".txt")
    try:
        with open(fd, "w", encoding="utf-8", errors="surrogatepass") as handle:
            handle.writelines(canaries.lines())
        yield name
    finally:
        os.unlink(name)


def _batched(items: Iterable, size: int) -> Iterator[tuple]:
    """Tuples of size items (the last one shorter): Python 3.12's itertools.batched."""
    iterator = iter(items)
    while chunk := tuple(itertools.islice(iterator, size)):
        yield chunk


# ---- the incremental write ---------------------------------------------------------------------
def _journal_path(out: Path) -> Path:
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}.journal.json"


def apply_journal(stage: Staging, out: Path, changed: list[str], deleted: list[str]) -> None:
    """Replace the changed files and delete the gone ones, after writing down the plan: if the
    process stops half-way, the next build finishes the plan first (recover), so the output is
    never left half-updated past the next command."""
    journal = _journal_path(out)
    plan = {"stage": str(stage.root), "out": str(Path(os.path.abspath(out))), "replace": changed, "delete": deleted}
    journal.write_text(json.dumps(plan), encoding="utf-8")
    stage.root = None  # the journal owns the staging folder now
    _roll_forward(plan)
    journal.unlink()


def _roll_forward(plan: dict) -> None:
    stage, out = Path(plan["stage"]), Path(plan["out"])
    for relpath in plan["replace"]:
        source = stage / relpath
        if source.exists():
            (out / relpath).parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, out / relpath)
    for relpath in plan["delete"]:
        target = out / relpath
        target.unlink(missing_ok=True)
        parent = target.parent
        while parent != out and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    shutil.rmtree(stage, ignore_errors=True)


def recover(out: Path) -> bool:
    """Finish an incremental write that a stopped build left half-done."""
    journal = _journal_path(out)
    if not journal.exists():
        return False
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise OutputError(f"{journal}: an unreadable write journal; remove it and the output folder, then build again")
    _roll_forward(plan)
    journal.unlink()
    print(f"finished an interrupted write into {out}", file=sys.stderr)
    return True
