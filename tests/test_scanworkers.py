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
