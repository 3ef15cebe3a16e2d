"""The leak scan's worker processes: forked from a small server process, not from the build's.

By the time the scan runs, the build's process has grown with every source, and a process forked
from it starts as large as it is; the scan's workers also each hold an automaton of every canary.
So they are forked from a server process that has imported only this module and verify (about
16 MB), started when a scan first needs it and stopped when the scan is done. Nothing here may
import more than that: a worker unpickles its process object, so it imports this module.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import signal
import threading
from multiprocessing import forkserver, popen_forkserver, spawn

from . import verify  # noqa: F401  (what a worker runs: verify.scan_chunk)

_LAUNCH = threading.Lock()


class _Process(multiprocessing.context.ForkServerProcess):
    """A forkserver worker that does not run the main script again. multiprocessing has a new
    process import the script that started the program (to find functions defined there), so a
    script that builds without an `if __name__ == "__main__"` guard would build again in every
    worker, and a guarded one would load everything it imports; the scan's functions live in
    verify, which the server has imported already."""

    @staticmethod
    def _Popen(process_obj):
        global _FORKED
        _FORKED = True
        with _LAUNCH:
            original = spawn.get_preparation_data
            spawn.get_preparation_data = lambda name: {
                key: value for key, value in original(name).items() if not key.startswith("init_main_from_")}
            try:
                return popen_forkserver.Popen(process_obj)
            finally:
                spawn.get_preparation_data = original


class _Context(multiprocessing.context.ForkServerContext):
    Process = _Process


def context() -> multiprocessing.context.BaseContext:
    """The start method for a pool of scan workers (ProcessPoolExecutor's mp_context). Where the
    server cannot start (it listens on a Unix socket, which a sandbox may forbid), the workers
    are forked from the build's process: larger, but the same scan."""
    started = _Context()
    started.set_forkserver_preload([__name__])
    try:
        forkserver.ensure_running()
    except OSError:
        return multiprocessing.get_context("fork")
    return started


def stop_server() -> None:
    """Stop the server and wait for it, once its workers are done: a process waited for counts
    in its parent's resource use (and the benchmark's peak memory, which reads that), and the
    server waits for its workers. The next scan starts another. A server that forked no worker
    (started early, then not needed) is ended at once: it would first finish its imports."""
    global _FORKED
    server = getattr(forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if stop is None:  # CPython before 3.8
        return
    pid = getattr(server, "_forkserver_pid", None)
    if pid is not None and not _FORKED:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    stop()
    _FORKED = False


def start_early() -> None:
    """Start the server now, before any scan needs it, and hold it (hold_server) until
    release_server: a rebuild that scans on workers would otherwise wait for the server's start,
    a Python process that imports verify (0.3 s here), after making its site-level files and
    canaries; started as the build begins, it is ready by then."""
    hold_server()
    context()


_FORKED = False  # a worker was forked from the server since it started


_HOLDERS = 0  # pools of this build using the server now: a scan of the canaries a rebuild added
              # runs beside the scan of its new files, and the server waits for every worker


def hold_server() -> None:
    """A pool is about to use the server (started when it first forks a worker)."""
    global _HOLDERS
    _HOLDERS += 1


def release_server() -> None:
    """A pool that held the server is shut down: the last one stops it (stop_server)."""
    global _HOLDERS
    _HOLDERS -= 1
    if _HOLDERS == 0:
        stop_server()
