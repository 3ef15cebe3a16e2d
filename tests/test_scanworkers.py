"""The leak scan's workers start from a small process: the scan and nothing of the build."""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from healthsite import scanworkers


def test_a_scan_worker_has_imported_the_scan_and_nothing_of_the_build():
    try:
        with ProcessPoolExecutor(1, mp_context=scanworkers.context()) as pool:
            modules = pool.submit(eval, "sorted(__import__('sys').modules)").result(timeout=120)
    finally:
        scanworkers.stop_server()
    assert "healthsite.verify" in modules
    heavy = [m for m in modules if m.split(".")[0] in ("pydantic", "jinja2", "yaml", "markdown", "nh3", "click")
             or m in ("healthsite.engine", "healthsite.render", "healthsite.load")]
    assert heavy == []  # (a script that builds is not run again either: test_engine, main guard)


def test_where_the_server_cannot_start_the_workers_are_forked(monkeypatch):
    """A sandbox that forbids Unix sockets: the scan still runs (test_engine: the same leaks)."""
    from multiprocessing import forkserver

    def no_unix_sockets():
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(forkserver, "ensure_running", no_unix_sockets)
    assert scanworkers.context().get_start_method() == "fork"


def _server_pid():
    from multiprocessing import forkserver
    return forkserver._forkserver._forkserver_pid


def test_a_server_started_early_serves_a_pool_and_one_never_used_is_ended_at_once():
    """start_early holds the server until release_server: a pool made meanwhile uses it (no
    second start), and a server no worker came from is ended, not waited for (its imports)."""
    import os
    import time
    scanworkers.start_early()
    first = _server_pid()
    assert first is not None
    with ProcessPoolExecutor(max_workers=1, mp_context=scanworkers.context()) as pool:
        assert pool.submit(os.getpid).result() != os.getpid()
    assert _server_pid() == first  # still held
    scanworkers.release_server()
    assert _server_pid() is None

    scanworkers.start_early()
    unused = _server_pid()
    started = time.perf_counter()
    scanworkers.release_server()
    assert time.perf_counter() - started < 0.1  # a server importing verify takes longer to end
    assert _server_pid() is None
    try:
        os.kill(unused, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError("the unused server is still there")
