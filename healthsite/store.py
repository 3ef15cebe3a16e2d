"""The build store: every source's results, and what the output folder holds, in one SQLite file.

The main process keeps none of it in memory: results go in as the workers hand them back, and the
dashboard rows, the sources.json entries and the canaries are read back out in order, a row at a
time, so a build's memory does not grow with the number of sources. With --cache the file stays
(`<cache>/state.sqlite`) and the next build takes unchanged sources from it; without, it is a
temporary file, removed at the end; serve keeps one for as long as it runs.

A build runs in one transaction: if it fails, the store is as the last good build left it.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import pickle
import sqlite3
import sys
import tempfile
from array import array
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .problems import OutputError, Problem

SCHEMA_VERSION = "14"  # 8: the canaries in a table of their own; 9: and the names the site shows; 10: digests;
                       # 11: the filter pages' indexes; 12: which files read as shown; 13: rows_suspect; 14: words
WAIT = 600  # seconds a build waits for another one that uses the same cache
MEMORY = Path(":memory:")  # a store kept for this process only (serve), removed when it ends

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sources (
    slug TEXT PRIMARY KEY,
    size INTEGER, mtime INTEGER,      -- the file's signature (size, mtime_ns) when it was listed
    digest BLOB,                      -- blake2b of its bytes as they were read (16 bytes)
    shown INTEGER,                    -- 1: the authorized profile's, on the site
    rank INTEGER, sort_name TEXT,     -- the dashboard's order: severity, name, slug
    status TEXT, platform TEXT,
    refs TEXT, foreign_names TEXT,    -- JSON lists: the canaries this source adds
    shown_text TEXT,                  -- what its pages show (exempts a foreign name from the scan)
    warnings BLOB,                    -- pickled list of Problem, or NULL
    row0 TEXT, row1 TEXT,             -- its dashboard rows (index, filter pages)
    rows_suspect INTEGER,             -- 1: the first look for active content stops at one of them
    entry BLOB                        -- its sources.json line (UTF-8)
);
CREATE INDEX IF NOT EXISTS sources_order ON sources (shown, rank, sort_name, slug);
-- a covering index: a rebuild reads every signature without the wide rows
CREATE INDEX IF NOT EXISTS sources_signature ON sources (slug, mtime, size, digest);
-- a filter page's rows in the dashboard's order, and the counts, without visiting every source
CREATE INDEX IF NOT EXISTS sources_by_status ON sources (shown, status, rank, sort_name, slug);
CREATE INDEX IF NOT EXISTS sources_by_platform ON sources (shown, platform, rank, sort_name, slug);
CREATE INDEX IF NOT EXISTS sources_suspect ON sources (shown) WHERE rows_suspect = 1;  -- nearly always empty
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    slug TEXT,                        -- the source it belongs to; NULL: a site-level file
    digest TEXT,                      -- sha256 of its bytes
    size INTEGER, mtime INTEGER,      -- as written into the output (NULL until it is)
    as_shown INTEGER                  -- 1: its bytes are its text as shown (verify.reads_as_shown)
);
CREATE INDEX IF NOT EXISTS files_slug ON files (slug);
-- every word (verify.words_of) of every source's file written since the store was reset, and of
-- some no longer there: a rebuild's new canary none of whose words is in one is in no unchanged file
CREATE TABLE IF NOT EXISTS words (word BLOB PRIMARY KEY) WITHOUT ROWID;
"""
_CANARIES_TABLE = """
CREATE TABLE IF NOT EXISTS canaries (
    kind INTEGER,                     -- 0: a name another profile must not see, 1: a raw ref,
                                      -- 2: such a name that the site shows anyway (no canary)
    text TEXT,
    PRIMARY KEY (kind, text)
) WITHOUT ROWID
"""

_MEMORY_CONNECTION: sqlite3.Connection | None = None


class Store:
    def __init__(self, connection: sqlite3.Connection, temporary: Path | None = None, name: str = ""):
        self.db = connection
        self.temporary = temporary
        self.name = name  # the store's file, for messages

    # ---- opening and closing ----------------------------------------------------------------
    @classmethod
    def open(cls, cache_dir: Path | None) -> "Store":
        global _MEMORY_CONNECTION
        if cache_dir == MEMORY:
            # A temporary file, not SQLite's ":memory:": the process stays small however many
            # sources there are (the file sits in the system's page cache, as fast).
            if _MEMORY_CONNECTION is None:
                fd, name = tempfile.mkstemp(prefix="healthsite-serve-", suffix=".sqlite")
                os.close(fd)
                atexit.register(Path(name).unlink, missing_ok=True)
                _MEMORY_CONNECTION = _connect(name)
            return cls(_MEMORY_CONNECTION)
        if cache_dir is None:
            fd, name = tempfile.mkstemp(prefix="healthsite-store-", suffix=".sqlite")
            os.close(fd)
            store = cls(_connect(name), Path(name))
            store.db.execute("PRAGMA journal_mode=OFF")  # a throw-away file: no rollback journal needed
            return store
        path = Path(cache_dir) / "state.sqlite"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return cls(_connect(str(path)), name=str(path))
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc):  # another build is writing it: wait for it
                return cls(_connect(str(path), wait=True), name=str(path))
            # Not a database, or one of an old layout: only a slower build.
            path.unlink(missing_ok=True)
            return cls(_connect(str(path)), name=str(path))

    @property
    def kept(self) -> bool:
        """Is this store kept for a next build (a cache, or serve's), not thrown away at its end?"""
        return self.temporary is None

    @property
    def resident(self) -> bool:
        """Is this serve's store, kept from one build to the next in this process?"""
        return self.db is _MEMORY_CONNECTION

    def close(self) -> None:
        if self.db is _MEMORY_CONNECTION:
            return
        self.db.close()
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)

    @contextmanager
    def transaction(self):
        self._begin()
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _begin(self) -> None:
        """Take the store for this build. Another build with the same --cache holds it until it
        ends: wait for it (saying so), then go on; give up with a message after WAIT seconds."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        print(f"waiting for another build that uses the same cache ({self.name})", file=sys.stderr)
        self.db.execute(f"PRAGMA busy_timeout = {int(WAIT * 1000)}")
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            raise OutputError(f"{self.name}: the cache is in use by another build; try again when it ends") from None
        finally:
            self.db.execute("PRAGMA busy_timeout = 0")

    # ---- what the last build was ------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, **values: str) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    def reset(self) -> None:
        """Forget every source, file and canary (a cold build)."""
        self.db.execute("DELETE FROM meta WHERE key IN ('canaries', 'names')")
        self.db.execute("DELETE FROM canaries")
        self.end_canaries_aside()
        self.db.execute("DELETE FROM sources")
        self.db.execute("DELETE FROM files")
        self.db.execute("DELETE FROM words")

    # ---- sources ----------------------------------------------------------------------------
    def compare(self, files, racy_from: int | None = None, still=None) -> tuple[Sequence, list[str]]:
        """The files (a load.SourceList, in slug order) whose signature (mtime, size) is not the
        stored one (new or changed), and the slugs stored but no longer listed (gone). A merge of
        two sorted lists, not a dictionary of every source: a rebuild's memory does not grow with
        them. All of them (a cold build) is the list itself, not a copy of it.
        A file of the stored signature whose mtime is racy_from or later is changed too, unless
        still(file, digest) says its bytes are still the stored digest's: written that close to
        the last build, it may have changed again within one tick of its filesystem's clock."""
        changed = array("q")  # their places in files
        gone: list[str] = []
        rows = self.db.execute("SELECT slug, mtime, size, digest FROM sources ORDER BY slug")
        row = next(rows, None)
        for index, (slug, mtime, size) in enumerate(files.signatures()):
            while row is not None and row[0] < slug:
                gone.append(row[0])
                row = next(rows, None)
            if row is not None and row[0] == slug:
                if row[1] != mtime or row[2] != size:
                    changed.append(index)
                elif racy_from is not None and mtime >= racy_from and not still(files[index], row[3]):
                    changed.append(index)
                row = next(rows, None)
            else:
                changed.append(index)
        while row is not None:
            gone.append(row[0])
            row = next(rows, None)
        if len(changed) == len(files):
            return files, gone
        return [files[index] for index in changed], gone

    def put(self, result) -> None:
        """One source's results (engine.SourceResult), replacing what it had."""
        s = result.summary
        self.db.execute(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (result.slug, result.signature[1], result.signature[0], result.digest, int(s is not None),
             result.rank, result.sort_name, s and s[0], s and s[1],
             *texts(result.refs, result.foreign_names), result.shown_text,
             pickle.dumps(result.warnings, protocol=pickle.HIGHEST_PROTOCOL) if result.warnings else None,
             result.rows[0], result.rows[1], int(result.rows_suspect), result.entry))

    def previous(self, slug: str) -> tuple[tuple, tuple] | None:
        """What the source put on the site-level pages, and what it added to the canaries (as
        engine._parts makes them), when it was last built."""
        row = self.db.execute("SELECT shown, rank, sort_name, status, platform, row0, row1, entry, "
                              "refs, foreign_names, shown_text FROM sources WHERE slug = ?", (slug,)).fetchone()
        return (row[:8], row[8:]) if row else None

    def delete_sources(self, slugs) -> None:
        self.db.executemany("DELETE FROM sources WHERE slug = ?", ((s,) for s in slugs))

    def warnings(self) -> list[Problem]:
        out: list[Problem] = []
        for (blob,) in self.db.execute("SELECT warnings FROM sources WHERE warnings IS NOT NULL ORDER BY slug"):
            out.extend(pickle.loads(blob))  # our own file (or memory): never content
        return out

    def counts(self, column: str) -> Counter:
        assert column in ("status", "platform")
        return Counter(dict(self.db.execute(f"SELECT {column}, count(*) FROM sources WHERE shown = 1 GROUP BY {column}")))

    def rows(self, which: int, column: str | None = None, value: str | None = None) -> Iterator[str]:
        """The dashboard rows (0: the index's, 1: a filter page's), in the dashboard's order."""
        field = ("row0", "row1")[which]
        where = "" if column is None else f" AND {'status' if column == 'status' else 'platform'} = ?"
        args = () if column is None else (value,)
        for (row,) in self.db.execute(f"SELECT {field} FROM sources WHERE shown = 1{where} "
                                      "ORDER BY rank, sort_name, slug", args):
            yield row

    def rows_suspect(self) -> bool:
        """Is a shown source's dashboard row one that the first look for active content stops at?"""
        return bool(self.db.execute("SELECT EXISTS (SELECT 1 FROM sources WHERE shown = 1 AND rows_suspect = 1)").fetchone()[0])

    def entries(self) -> Iterator[bytes]:
        for (entry,) in self.db.execute("SELECT entry FROM sources WHERE shown = 1 ORDER BY rank, sort_name, slug"):
            yield entry

    def set_foreign_names(self, shortest: int) -> None:
        """Every source's names that another profile must not see, of shortest characters or
        more, each once: none a canary yet (set_canaries makes them so). Streamed from the
        sources' lists into SQLite: at 100,000 sources 30,000 names, never a set of them in this process.
        Their digest (of foreign_name_lines) is kept as the meta "names"."""
        self.db.execute("DELETE FROM canaries")
        self.db.executemany("INSERT OR IGNORE INTO canaries VALUES (2, ?)",
                            ((name,) for name in self._each("foreign_names") if len(name) >= shortest))
        self.set_meta(names=_digest_of(self.foreign_name_lines()))

    def foreign_name_lines(self) -> Iterator[str]:
        """The foreign names as canary lines of names (canaries or not), for a Scanner of them."""
        for (line,) in self.db.execute("SELECT '0' || json_quote(text) || char(10) FROM canaries "
                                       "WHERE kind != 1 ORDER BY text"):
            yield line

    def canary_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM canaries WHERE kind < 2").fetchone()[0]

    def canary_may_cross_rows(self) -> bool:
        """Could a canary be found across two rows of a site-level file (render._Ends.outside):
        does one hold a newline, begin with a space or end with a comma?"""
        return bool(self.db.execute("SELECT EXISTS (SELECT 1 FROM canaries WHERE kind < 2 AND (instr(text, char(10)) "
                                    "OR substr(text, 1, 1) = ' ' OR substr(text, -1) = ','))").fetchone()[0])

    def canary_lines(self) -> Iterator[str]:
        """The canaries one by one, sorted, as lines for verify.Scanner.from_lines: "0" and a name
        (as JSON), then "1" and a raw ref. Made by SQLite, streamed: at 100,000 sources they are
        230,000 strings, never all in this process at once."""
        for (line,) in self.db.execute("SELECT kind || json_quote(text) || char(10) FROM canaries WHERE kind < 2 ORDER BY kind, text"):
            yield line

    def set_canaries_aside(self) -> None:
        """Keep the last build's canaries apart until this build ends (end_canaries_aside), for
        added_canary_lines: a page that was clean of them needs scanning only for the new ones.
        A rename of the table, not a copy: 230,000 rows at 100,000 sources."""
        self.end_canaries_aside()
        self.db.execute("ALTER TABLE canaries RENAME TO canaries_before")
        self.db.execute(_CANARIES_TABLE)

    def end_canaries_aside(self) -> None:
        self.db.execute("DROP TABLE IF EXISTS canaries_before")

    def added_canary_lines(self) -> Iterator[str]:
        """The canaries that were not canaries of the kind they are now when they were set aside,
        as canary_lines gives them: a new ref, a foreign name new or no longer shown."""
        for (line,) in self.db.execute(
                "SELECT kind || json_quote(text) || char(10) FROM canaries AS now WHERE kind < 2 AND NOT EXISTS "
                "(SELECT 1 FROM canaries_before AS was WHERE was.kind = now.kind AND was.text = now.text) "
                "ORDER BY kind, text"):
            yield line

    def added_canaries(self) -> tuple[str, int]:
        """The digest of added_canary_lines, and how many they are."""
        count = 0

        def counted() -> Iterator[str]:
            nonlocal count
            for line in self.added_canary_lines():
                count += 1
                yield line
        return _digest_of(counted()), count

    def set_canaries(self, shown: Iterable[str] | None) -> str:
        """Keep the canaries for the next build and the scan's workers: the foreign names but
        those the site shows, and every source's raw refs; return their digest (of
        canary_lines). shown: the names the site shows, of those set_foreign_names made; None:
        the names (canaries or shown) as they were set aside (set_canaries_aside), only the refs
        made again. Streamed in, never a set in memory."""
        if shown is None:
            self.db.execute("INSERT INTO canaries SELECT kind, text FROM canaries_before WHERE kind != 1")
        else:
            self.db.execute("UPDATE canaries SET kind = 0 WHERE kind = 2")
            self.db.executemany("UPDATE canaries SET kind = 2 WHERE kind = 0 AND text = ?", ((name,) for name in shown))
        self.db.executemany("INSERT OR IGNORE INTO canaries VALUES (1, ?)", ((ref,) for ref in self._each("refs")))
        return _digest_of(self.canary_lines())

    def _each(self, column: str) -> Iterator[str]:
        """Every source's refs or foreign names, one by one. Read by json, not SQLite's json_each,
        which ends a string at an escaped NUL ("a\\u0000b" is "a"): a name cut short of
        FOREIGN_NAME_MIN would be no canary."""
        assert column in ("refs", "foreign_names")
        for (items,) in self.db.execute(f"SELECT {column} FROM sources"):
            yield from json.loads(items)

    def shown_texts(self) -> Iterator[str]:
        for (text,) in self.db.execute("SELECT shown_text FROM sources WHERE shown = 1"):
            yield text

    # ---- files ------------------------------------------------------------------------------
    def files_of(self, slug: str | None) -> dict[str, str]:
        """path -> digest of a source's files (None: the site-level files)."""
        query = "SELECT path, digest FROM files WHERE " + ("slug IS NULL" if slug is None else "slug = ?")
        return dict(self.db.execute(query, () if slug is None else (slug,)))

    def digest(self, path: str) -> str | None:
        row = self.db.execute("SELECT digest FROM files WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def set_files(self, slug: str | None, files: dict[str, str], as_shown: Iterable[str] = ()) -> None:
        """Record files as written anew (their size and time are stamped after the write);
        as_shown: those of them whose bytes read as their text as shown."""
        as_shown = set(as_shown)
        self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, NULL, NULL, ?)",
                            ((path, slug, digest, int(path in as_shown)) for path, digest in files.items()))

    def delete_files(self, paths) -> None:
        self.db.executemany("DELETE FROM files WHERE path = ?", ((p,) for p in paths))

    def source_paths(self, as_shown: bool | None = None) -> Iterator[str]:
        """The sources' own files, in order, one by one; as_shown: only those whose bytes read
        as their text as shown (True) or the others (False)."""
        where = "" if as_shown is None else f" AND as_shown IS {1 if as_shown else 'NOT 1'}"
        for (path,) in self.db.execute(f"SELECT path FROM files WHERE slug IS NOT NULL{where} ORDER BY path"):
            yield path

    def add_words(self, words: Iterable[bytes]) -> None:
        """Words of a source's files as they were made (verify.words_of). None are taken out when
        a file changes or goes: a word too many only has the files read again for a canary."""
        self.db.executemany("INSERT OR IGNORE INTO words VALUES (?)", ((word,) for word in words))

    def words(self) -> bytes:
        """Every word add_words was given since the store was reset, joined by newlines."""
        # Joined by SQLite: not 90,000 objects here at once (15 MB at 10,000 sources, where this is 4).
        (words,) = self.db.execute("SELECT CAST(coalesce(group_concat(word, char(10)), '') AS BLOB) FROM words").fetchone()
        return words

    def file_count(self) -> tuple[int, int]:
        """(files, pages)."""
        return self.db.execute("SELECT count(*), sum(path LIKE '%.html') FROM files").fetchone()

    def stamp(self, out: Path, paths: list[str] | None = None) -> None:
        """Record the size and time of the files written anew (paths; None: every file, read
        from the store a few thousand at a time), as the output folder has them."""
        base = str(out) + os.sep
        if paths is not None:
            self._stamp(base, ((None, p) for p in paths))
            return
        last = 0
        while True:
            batch = self.db.execute("SELECT rowid, path FROM files WHERE rowid > ? ORDER BY rowid LIMIT 4096",
                                    (last,)).fetchall()
            if not batch:
                return
            self._stamp(base, batch)
            last = batch[-1][0]

    def _stamp(self, base: str, rows) -> None:
        stamps = []
        for rowid, path in rows:
            stat = os.lstat(base + path)
            stamps.append((stat.st_size, stat.st_mtime_ns, path))
        self.db.executemany("UPDATE files SET size = ?, mtime = ? WHERE path = ?", stamps)

    def intact(self, out: Path) -> bool:
        """The output folder is exactly what the store says the last build wrote: the size and
        time of every file, and nothing more (a file dropped in by hand would survive an
        incremental build, not a cold one)."""
        if not out.is_dir():
            return False
        base = str(out) + os.sep
        total = 0
        lstat = os.lstat
        # The whole path made by SQLite: the loop below runs for every file of the site.
        for path, size, mtime in self.db.execute("SELECT ? || path, size, mtime FROM files", (base,)):
            total += 1
            try:
                stat = lstat(path)  # plain strings: pathlib cost more than the lstat
            except OSError:
                return False
            if stat.st_size != size or stat.st_mtime_ns != mtime:
                return False
        # Nothing more in those folders, nor any other folder: every entry is a file we wrote or
        # one of our folders (listdir, not a walk: a rebuild reads the folders of 20,000 files).
        folders = {""}
        for (folder,) in self.db.execute("SELECT DISTINCT rtrim(path, replace(path, '/', '')) FROM files"):
            folder = folder.rstrip("/")
            while folder not in folders:  # sources, badges, assets/icons and the like
                folders.add(folder)
                folder = folder.rpartition("/")[0]
        try:
            entries = sum(len(os.listdir(base + folder if folder else out)) for folder in folders)
        except OSError:
            return False
        return total > 0 and entries == total + len(folders) - 1


def _digest_of(lines: Iterable[str]) -> str:
    """sha256 of lines streamed one by one (canary lines: a name may hold a lone surrogate)."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8", errors="surrogatepass"))
    return digest.hexdigest()


def texts(*lists) -> list[str]:
    """Lists of strings as the store keeps them (JSON: a YAML string can hold any character)."""
    return [json.dumps(list(items), ensure_ascii=False) for items in lists]


def _connect(name: str, wait: bool = False) -> sqlite3.Connection:
    # Transactions are explicit (Store.transaction). Any thread: serve builds in its watcher
    # thread with the store its first build made, one build at a time.
    db = sqlite3.connect(name, isolation_level=None, check_same_thread=False, timeout=WAIT if wait else 0)
    db.execute("PRAGMA synchronous=OFF")  # a lost cache is a slower build, never a wrong one
    db.execute("PRAGMA temp_store=MEMORY")
    version = None
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        version = row[0] if row else None
    if version != SCHEMA_VERSION:
        db.executescript("DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS sources; DROP TABLE IF EXISTS files; "
                         "DROP TABLE IF EXISTS canaries; DROP TABLE IF EXISTS canaries_before; DROP TABLE IF EXISTS words;")
        db.executescript(_TABLES + _CANARIES_TABLE + ";")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    return db
