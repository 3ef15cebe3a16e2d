"""Stage 5, write: all or nothing.

Files go to a staging folder beside the output; only when every page is rendered and the
leak scan has passed does the staging folder replace the output, by two renames. Any failure
removes the staging folder and leaves the previous output exactly as it was. The writer refuses
to overwrite a file it already wrote in this build (a colliding output), to write outside the
staging folder, and to replace a folder that is not a site it built.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from .problems import OutputError

SIGNATURE_FILE = "sources.json"
SIGNATURE = '"format": "source-health-preview/sources"'


def check_output_location(out: Path, content: Path) -> None:
    out_abs, content_abs = Path(os.path.abspath(out)), Path(os.path.abspath(content))
    if out.is_symlink():
        raise OutputError(f"{out}: the output folder is a symbolic link; give the real folder")
    out_real, content_real = out_abs.resolve(), content_abs.resolve()
    if out_real == content_real or out_real.is_relative_to(content_real):
        raise OutputError(f"{out}: the output folder is inside the content folder {content}; choose another --out")
    if content_real.is_relative_to(out_real):
        raise OutputError(f"{out}: the output folder contains the content folder {content}; choose another --out")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not is_built_site(out):
        raise OutputError(f"{out}: exists, is not empty and is not a site built by this tool; refusing to replace it")


def is_built_site(folder: Path) -> bool:
    try:
        with (folder / SIGNATURE_FILE).open("rb") as handle:  # only its head: the file can be large
            head = handle.read(200).decode("utf-8", errors="replace")
    except OSError:
        return False
    return SIGNATURE in head and (folder / "index.html").is_file()


def _fresh_folder(parent: Path, prefix: str) -> Path:
    """A new folder of a unique name, made as mkdir makes one (the umask decides its mode): it
    becomes the output folder, which a web server running as another user must be able to read
    (tempfile.mkdtemp's folders are the owner's only)."""
    while True:
        folder = parent / f"{prefix}{os.urandom(6).hex()}"
        try:
            folder.mkdir(0o777)
            return folder
        except FileExistsError:
            continue


class Staging:
    """A build's output, assembled beside the real one and swapped in by commit()."""

    def __init__(self, out: Path, content: Path):
        check_output_location(out, content)
        self.out = Path(os.path.abspath(out))
        parent = self.out.parent
        # Folders made for the output's parent are removed again if the build fails.
        self._made: list[Path] = []
        missing = parent
        while not missing.exists():
            self._made.append(missing)
            missing = missing.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.root = _fresh_folder(parent, f".{self.out.name}.building-")
        except OSError as exc:
            raise OutputError(f"{out}: cannot write next to the output folder: {exc.strerror or exc}") from None
        self._seen: set[str] = set()
        self._dirs: set[Path] = {self.root}

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, kind, value, tb) -> None:
        self.discard()

    def put_pieces(self, relpath: str, pieces) -> str:
        """Write a file from an iterator of bytes, never whole in memory; return its sha256."""
        digest = hashlib.sha256()
        target = self._claim(relpath)
        try:
            with target.open("wb") as handle:
                for piece in pieces:
                    digest.update(piece)
                    handle.write(piece)
        except OSError as exc:
            raise OutputError(f"{self.out}: cannot write {relpath}: {exc.strerror or exc}") from None
        return digest.hexdigest()

    def drop(self, relpath: str) -> None:
        """Take back a staged file (an incremental build found it unchanged)."""
        (self.root / relpath).unlink()

    def _claim(self, relpath: str) -> Path:
        """The staged path for relpath, refused if outside the output or already written."""
        rel = PurePosixPath(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise OutputError(f"refusing to write {relpath!r}: outside the output folder")
        key = rel.as_posix().casefold()  # two names that differ by case collide on many file systems
        if key in self._seen:
            raise OutputError(f"two pages would be written to {relpath}: refusing to overwrite")
        self._seen.add(key)
        target = self.root.joinpath(*rel.parts)
        try:
            if target.parent not in self._dirs:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._dirs.add(target.parent)
        except OSError as exc:
            raise OutputError(f"{self.out}: cannot write {relpath}: {exc.strerror or exc}") from None
        return target

    def put(self, relpath: str, data: bytes) -> None:
        target = self._claim(relpath)
        try:  # a full disk or a quota is an error message, not a traceback (the staging folder goes)
            target.write_bytes(data)
        except OSError as exc:
            raise OutputError(f"{self.out}: cannot write {relpath}: {exc.strerror or exc}") from None

    def commit(self) -> None:
        """Swap the staged folder in. The old output is moved aside, then removed."""
        try:
            if not self.out.exists():
                os.rename(self.root, self.out)
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-", dir=self.out.parent))
                os.rename(self.out, old / "site")
                try:
                    os.rename(self.root, self.out)
                except OSError:
                    os.rename(old / "site", self.out)  # put the previous output back
                    shutil.rmtree(old, ignore_errors=True)
                    raise
                shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            raise OutputError(f"{self.out}: cannot replace the output folder: {exc.strerror or exc}") from None
        self.root = None

    def discard(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            for folder in self._made:  # deepest first; only folders this build made, if still empty
                try:
                    folder.rmdir()
                except OSError:
                    break
