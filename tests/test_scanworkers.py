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
