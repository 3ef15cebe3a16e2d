"""The build engine: the pipeline run source by source, over both cores, with a build cache.

A source's own files (its health page, history page and badge) depend only on its file and on
the "head" (site.yaml, the catalog, the templates, the code, the profile). So each source goes
through load -> resolve -> render in a worker process, on its own, and the result is kept in a
cache keyed by the file's content hash. The site-level files (dashboard, filter pages,
sources.json) are then put together from every source's summary in the main process. The leak
scan reads what was written; the write is a swap of the whole folder (cold build) or, when the
previous output is intact and the head unchanged, a journaled replacement of just the files
whose bytes changed (incremental build). Either way the output equals a cold build, byte for byte.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

from . import resolve as resolving
from . import verify, views
from .load import CATALOG_FILES, LoadedSource, SourceFile, list_sources, load_head, load_source
from .problems import ContentError, OutputError, Problem
from .render import Renderer, export_entry_text
from .write import Staging, check_output_location

CACHE_VERSION = 1
PARALLEL_FROM = 200  # fewer changed sources than this are processed in the main process
_CODE = Path(__file__).resolve().parent


@dataclass
class SourceResult:
    """What one source contributes to the site: cached per source, keyed by its content hash."""

    slug: str
    signature: tuple[int, int]
    digest: str
    errors: list[Problem]
    warnings: list[Problem] = field(default_factory=list)
    refs: tuple[str, ...] = ()
    foreign_names: tuple[str, ...] = ()  # names of another profile's source or accounts
    shown_text: str = ""  # authorized sources: the text their pages show
    summary: views.SourceView | None = None  # authorized sources: the view without its long parts
    entry: bytes = b""  # authorized sources: its sources.json entry (compressed)
    rows: tuple[str, str] = ("", "")  # authorized sources: its dashboard rows (index, filter pages)
    outputs: dict[str, str] = field(default_factory=dict)  # relpath -> sha256 of its files
    leaks: list = field(default_factory=list)  # token shapes or active content in its files


@dataclass
class CacheState:
    head_key: str
    results: dict[str, SourceResult]
    manifest: dict[str, tuple[str, int, int]]  # output relpath -> (sha256, size, mtime_ns)
    canary_key: str
    out: str


@dataclass
class EngineResult:
    site: views.SiteView
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


_CTX: _Context | None = None  # set before the workers fork, so they inherit it


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def process(file: SourceFile) -> SourceResult:
    """One source through load, resolve and render; its files written to the staging folder."""
    ctx = _CTX
    try:
        raw = file.path.read_bytes()
    except OSError as exc:
        return SourceResult(file.slug, file.signature, "", [Problem(file.shown, 1, 1, f"cannot read file: {exc.strerror}")])
    digest = _digest(raw)
    loaded, errors = load_source(file, raw)
    if loaded is not None:
        errors += resolving.cross_check(loaded, ctx.catalog)
    if loaded is None or errors:
        return SourceResult(file.slug, file.signature, digest, errors)
    return _resolved(file, digest, loaded, ctx)


def _resolved(file: SourceFile, digest: str, loaded: LoadedSource, ctx: _Context) -> SourceResult:
    m = loaded.model
    result = SourceResult(file.slug, file.signature, digest, [], resolving.lint(loaded, ctx.catalog))
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
            target = ctx.stage / relpath
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            except OSError as exc:
                raise OutputError(f"cannot write {relpath}: {exc.strerror or exc}") from None
        result.outputs[relpath] = _digest(data)
    result.entry = export_entry_text(view)
    result.rows = ctx.renderer.rows(ctx.shell, view)
    # The dashboard needs the status line of a source, not its history or actions.
    result.summary = replace(view, actions=(), data_quality=(), runs=(), accounts=(), notes=None)
    return result


def _scan_chunk(args: tuple[Path, list[str], bool]) -> list[verify.Leak]:
    folder, names, shapes = args
    return verify.scan_tree(folder, _SCAN_CANARIES, names, shapes, scanner=_scanner())


def _scanner() -> verify.Scanner:
    """One automaton of the canaries per process (a worker scans many chunks)."""
    global _SCANNER
    if _SCANNER is None or _SCANNER[0] is not _SCAN_CANARIES:
        _SCANNER = (_SCAN_CANARIES, verify.Scanner(_SCAN_CANARIES))
    return _SCANNER[1]


_SCANNER: tuple[views.Canaries, verify.Scanner] | None = None


_SCAN_CANARIES: views.Canaries | None = None


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


MEMORY = Path(":memory:")  # a cache kept only in this process (serve): nothing is written


def _load_cache(cache_dir: Path | None) -> CacheState | None:
    if cache_dir is None:
        return None
    if cache_dir == MEMORY:
        return _MEMORY.get(str(MEMORY), (0, None))[1]
    path = cache_dir / "state.pickle"
    memo = _MEMORY.get(str(path))
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    if memo and memo[0] == stamp:  # a warm process (serve) keeps the cache in memory
        return memo[1]
    try:
        with path.open("rb") as handle:
            state = pickle.load(handle)  # our own file, beside the output; never content
    except Exception:  # an unreadable or old cache is only a slower build
        return None
    return state if isinstance(state, CacheState) else None


_MEMORY: dict[str, tuple[int, CacheState]] = {}


def _save_cache(cache_dir: Path | None, state: CacheState) -> None:
    if cache_dir is None:
        return
    if cache_dir == MEMORY:
        _MEMORY[str(MEMORY)] = (0, state)
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / "state.pickle"
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".state-")
    with os.fdopen(fd, "wb") as handle:
        pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    _MEMORY[str(path)] = (path.stat().st_mtime_ns, state)


def _intact(out: Path, manifest: dict[str, tuple[str, int, int]]) -> bool:
    """The output is exactly what the cache says it wrote (size and time of every file)."""
    if not out.is_dir():
        return False
    base = str(out) + os.sep
    for relpath, (_, size, mtime) in manifest.items():
        try:
            stat = os.lstat(base + relpath)  # plain strings: pathlib cost more than the lstat
        except OSError:
            return False
        if stat.st_size != size or stat.st_mtime_ns != mtime:
            return False
    # and nothing more: a file dropped in by hand would survive an incremental build, not a cold one
    return sum(len(files) for _, _, files in os.walk(out)) == len(manifest)


def run(content: Path, out: Path, profile: str | None, strict: bool, templates: Path,
        cache_dir: Path | None, jobs: int | None = None, progress=None) -> EngineResult:
    """Build content into out. Raise ContentError, LeakError (pipeline), RenderError, OutputError."""
    from .pipeline import LeakError  # the error type the command line reports

    recover(out)
    check_output_location(out, content)
    head = load_head(content)
    files, list_problems, list_warnings = list_sources(head.root)
    problems = head.problems + list_problems
    if not (head.site is not None and len(head.catalog) == len(CATALOG_FILES)):
        # Nothing to check the sources against: report what can be read, file by file.
        for file in files:
            problems += load_source(file)[1]
        raise ContentError(problems + head.warnings + list_warnings)
    catalog, authorized = resolving.resolve_head(head, problems, profile)
    shell = resolving.site_view(head, catalog, authorized, ())
    head_key = _head_key(head.root, templates, authorized)

    cache = _load_cache(cache_dir)
    warm = (cache is not None and cache.head_key == head_key and cache.out == str(out.resolve())
            and _intact(out, cache.manifest))
    previous = cache.results if warm else {}

    clock = _Clock()
    with Staging(out, content) as stage:
        global _CTX
        _CTX = _Context(catalog, authorized, shell, Renderer.for_folder(templates), stage.root)
        results: dict[str, SourceResult] = {}
        todo = []
        for file in files:
            old = previous.get(file.slug)
            if old is not None and old.signature == file.signature and not old.errors:
                results[file.slug] = old
            else:
                todo.append(file)
        clock("prepare")
        for result in _map(process, todo, jobs, progress):
            results[result.slug] = result

        for result in results.values():
            problems += result.errors
        warnings = head.warnings + list_warnings + [w for r in results.values() for w in r.warnings]
        if problems:
            raise ContentError(problems + warnings)
        if strict and warnings:
            raise ContentError([w.as_error() for w in warnings])

        ordered = sorted((r for r in results.values() if r.summary is not None),
                         key=lambda r: (resolving.STATUS_ORDER.index(r.summary.status),
                                        r.summary.name.casefold(), r.slug))
        clock(f"sources ({len(todo)})")
        site = resolving.site_view(head, catalog, authorized, tuple(r.summary for r in ordered))
        site_files = _CTX.renderer.site_files(site, [r.entry for r in ordered], {r.slug: r.rows for r in ordered})
        outputs: dict[str, str] = {}
        for r in ordered:
            outputs.update(r.outputs)
        site_written = []
        for relpath, data in site_files:
            if isinstance(data, bytes):
                digest = _digest(data)
                if not warm or cache.manifest.get(relpath, ("",))[0] != digest:
                    stage.put(relpath, data)
                    site_written.append((relpath, digest))
            else:  # a large file in pieces: written as it comes, dropped again if unchanged
                digest = stage.put_pieces(relpath, data)
                if not warm or cache.manifest.get(relpath, ("",))[0] != digest:
                    site_written.append((relpath, digest))
                else:
                    stage.drop(relpath)
            outputs[relpath] = digest

        clock("site files")
        canaries = resolving.canaries_from(
            head, catalog, authorized,
            refs=(ref for r in results.values() for ref in r.refs),
            foreign=(n for r in results.values() for n in r.foreign_names),
            shown=(r.shown_text for r in ordered))
        canary_key = _digest("\0".join(sorted(canaries.refs) + ["\1"] + sorted(canaries.foreign_names)).encode())

        if warm:
            changed = sorted(p for p, d in outputs.items() if cache.manifest.get(p, ("",))[0] != d)
            deleted = sorted(set(cache.manifest) - set(outputs))
        else:
            changed, deleted = sorted(outputs), []
        # Scan what is new; everything again when the canaries changed (a new ref may already be
        # in an unchanged page).
        # Every source's own files had their shapes scanned as they were rendered; here the
        # canaries over what is new (everything, when the canaries changed: a new ref may already
        # be in an unchanged page), and the site-level files in full.
        site_level = {relpath for relpath, _ in site_written}
        fresh = sorted(p for p in changed if p not in site_level)
        to_scan = [(stage.root, sorted(site_level), True), (stage.root, fresh, False)]
        if warm and canary_key != cache.canary_key:
            to_scan.append((out, sorted(set(outputs) - set(changed)), False))
        clock("canaries")
        leaks = [leak for r in results.values() for leak in r.leaks] + _scan(to_scan, canaries, jobs)
        clock("scan")
        if leaks:
            raise LeakError(leaks)

        if not warm:
            stage.commit()
            mode = "cold"
        elif changed or deleted:
            apply_journal(stage, out, changed, deleted)
            mode = "incremental"
        else:
            mode = "unchanged"

    manifest = {}
    base = str(out) + os.sep
    for relpath, digest in outputs.items():
        stat = os.lstat(base + relpath)
        manifest[relpath] = (digest, stat.st_size, stat.st_mtime_ns)
    clock("write")
    _save_cache(cache_dir, CacheState(head_key, results, manifest, canary_key, str(out.resolve())))
    clock("cache")
    clock.report()
    return EngineResult(site, warnings, len(outputs), sum(1 for p in outputs if p.endswith(".html")), mode,
                        len(todo), len(changed), len(deleted))


def _map(func, items: list, jobs: int | None, progress, parallel_from: int = PARALLEL_FROM):
    """func over items, over the cores when there are many; results in order. progress, if
    given, makes a context manager with update(n) for long runs (the command line's bar)."""
    workers = min(jobs or os.cpu_count() or 1, 8)
    parallel = workers > 1 and len(items) >= parallel_from
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(progress(len(items))) if progress and len(items) >= PARALLEL_FROM else None
        if parallel:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")))
            stack.callback(pool.shutdown, cancel_futures=True)
            iterator = pool.map(func, items, chunksize=max(1, min(64, len(items) // (workers * 16))))
        else:
            iterator = map(func, items)
        for item in iterator:
            if bar is not None:
                bar.update(1)
            yield item


def _scan(groups: list[tuple[Path, list[str], bool]], canaries: views.Canaries, jobs: int | None) -> list[verify.Leak]:
    global _SCAN_CANARIES
    _SCAN_CANARIES = canaries
    total = sum(len(names) for _, names, _ in groups)
    if total >= PARALLEL_FROM:
        items = [(folder, names[i:i + 256], shapes) for folder, names, shapes in groups
                 for i in range(0, len(names), 256)]
    else:
        items, jobs = [group for group in groups if group[1]], 1
    leaks: list[verify.Leak] = []
    for found in _map(_scan_chunk, items, jobs, None, parallel_from=2):  # items are chunks of files
        leaks.extend(found)
    return leaks


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
