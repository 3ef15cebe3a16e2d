"""`serve`: the live-reload loop in Chromium, the sub-path, refused paths, and a clean Ctrl-C.

`serve` runs as a real subprocess on a free port (--port 0) over a private copy of the content.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import SHIPPED
from .helpers import REPO, axe_violations, stylesheet_applied

SLUG = "tiktok-ads-france"
PROBLEM_LINE = re.compile(r"sources/tiktok-ads-france\.yaml:\d+:\d+: ")


class Serve:
    """`python build.py serve ...` in the background, its output collected line by line."""

    def __init__(self, cwd: Path, *args: str):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(REPO / "build.py"), "serve", *args], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        match = self.wait_for_line(re.compile(r"serving .* at (http://127\.0\.0\.1:(\d+)(/\S*))"), timeout=60)
        self.url, self.port, self.base = match[1], int(match[2]), match[3]
        self.origin = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: re.Pattern, timeout: float = 30, start: int = 0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                if m := pattern.search(line):
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern.pattern!r} in:\n{self.output}")

    def get(self, path: str) -> tuple[int, dict, bytes]:
        """A raw request: the path is sent exactly as given (no client-side normalisation)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, dict(resp.getheaders()), body

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        return self.proc.returncode


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    shutil.copytree(SHIPPED, tmp / "content")
    server = Serve(tmp, "--content", "content", "--out", "out", "--port", "0", "--base-path", "/repo/")
    server.tmp, server.content, server.out = tmp, tmp / "content", tmp / "out"
    yield server
    server.stop()


def _source(live) -> Path:
    return live.content / "sources" / f"{SLUG}.yaml"


def test_serve_builds_and_prints_its_url(live):
    assert live.base == "/repo/"
    assert (live.out / "index.html").is_file()
    status, headers, body = live.get("/repo/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path, expected", [
    ("/repo/index.html", 200),
    ("/repo/assets/style.css", 200),
    ("/repo", 301),
    ("/index.html", 404),                         # outside the sub-path
    ("/repo/no-such-page.html", 404),
    ("/repo/../pyproject.toml", 403),
    ("/repo/sources/../../content/site.yaml", 403),
    ("/repo/%2e%2e/content/site.yaml", 403),
    ("/repo/%2E%2E%2Fcontent%2Fsite.yaml", 403),
    ("/repo/assets/..%2f..%2fcontent/site.yaml", 403),
    ("/repo/..%5c..%5ccontent%5csite.yaml", 400),
])
def test_serve_paths(live, path, expected):
    status, headers, body = live.get(path)
    assert status == expected, (path, status, body[:200])
    if status == 403:
        assert b"site_yaml" not in body and b"title:" not in body


def test_serve_refuses_a_symlink_out_of_the_site(live):
    (live.out / "escape").symlink_to(live.content)
    (live.out / "site-yaml.html").symlink_to(live.content / "site.yaml")
    assert live.get("/repo/escape/site.yaml")[0] == 403
    assert live.get("/repo/site-yaml.html")[0] == 403


def test_serve_refuses_foreign_host_names(live):
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    conn.request("GET", "/repo/index.html", headers={"Host": "attacker.example:80"})
    assert conn.getresponse().status == 421


def test_reload_hook_is_in_served_pages_only(live, tmp_path):
    status, _, body = live.get(f"/repo/sources/{SLUG}.html")
    page = body.decode()
    script = re.search(r"<script>(.*?)</script>", page, re.S)[1]
    assert "EventSource" in script and "/repo/__reload" in script
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)[1].replace("&#x27;", "'")
    assert f"script-src 'sha256-{digest}'" in csp, csp
    assert f"connect-src {live.origin}/repo/__reload" in csp
    assert "unsafe-inline" not in csp
    # On disk: no hook, and byte for byte what `build` writes.
    from healthsite import pipeline

    pipeline.build(live.content, tmp_path / "plain")
    served_tree = {p.relative_to(live.out): p.read_bytes() for p in live.out.rglob("*")
                   if p.is_file() and not p.is_symlink()}
    plain_tree = {p.relative_to(tmp_path / "plain"): p.read_bytes() for p in (tmp_path / "plain").rglob("*")
                  if p.is_file()}
    assert served_tree == plain_tree
    assert not any(b"__reload" in data or b"<script" in data for data in served_tree.values())


def test_live_reload_loop(live, open_page):
    """Open a page; rename the source: the page shows the new name. Break the YAML: the error
    (path:line:col) shows in the page and the terminal over the last good page. Fix it: it recovers."""
    source = _source(live)
    original = source.read_text(encoding="utf-8")
    page, watch = open_page(f"{live.url}sources/{SLUG}.html", live.origin)
    assert stylesheet_applied(page)
    name = re.search(r"^name: (.+)$", original, re.M)[1]
    assert name in page.title()
    banner = page.locator("#healthsite-build-error")

    try:
        source.write_text(original.replace(f"name: {name}", f"name: {name} Renamed", 1), encoding="utf-8")
        page.wait_for_function("(n) => document.title.includes(n)", arg=f"{name} Renamed", timeout=20000)
        assert page.locator(".breadcrumb [aria-current=page]").inner_text() == f"{name} Renamed"

        mark = len(live.lines)
        source.write_text(original.replace(f"name: {name}", "name: [unclosed", 1), encoding="utf-8")
        banner.wait_for(state="visible", timeout=20000)
        assert PROBLEM_LINE.search(banner.inner_text()), banner.inner_text()
        assert f"{name} Renamed" in page.title(), "the last good page is no longer shown"
        assert stylesheet_applied(page)
        live.wait_for_line(PROBLEM_LINE, start=mark)
        assert not axe_violations(page), "the error banner is not accessible"

        source.write_text(original.replace(f"name: {name}", f"name: {name} Again", 1), encoding="utf-8")
        page.wait_for_function("(n) => document.title.includes(n)", arg=f"{name} Again", timeout=20000)
        assert banner.count() == 0
    finally:
        source.write_text(original, encoding="utf-8")
    assert not watch.problems, "\n".join(watch.problems)  # e.g. the page's CSP refusing the injected script


def test_ctrl_c_stops_serve_cleanly(live):
    assert live.stop() == 0, live.output
    assert live.lines[-1] == "stopped"
    assert "Traceback" not in live.output


def test_serve_starts_on_broken_content_then_recovers(tmp_path):
    shutil.copytree(SHIPPED, tmp_path / "content")
    source = tmp_path / "content" / "sources" / f"{SLUG}.yaml"
    good = source.read_text(encoding="utf-8")
    source.write_text(good.replace("status: ", "status: sideways #", 1), encoding="utf-8")
    server = Serve(tmp_path, "--content", "content", "--out", "out", "--port", "0", "--no-reload")
    try:
        assert PROBLEM_LINE.search(server.output), server.output
        status, _, body = server.get("/index.html")
        assert status == 503 and b"healthsite-build-error" in body and PROBLEM_LINE.search(body.decode())
        assert b"<script" not in body  # --no-reload
        source.write_text(good, encoding="utf-8")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and server.get("/index.html")[0] != 200:
            time.sleep(0.1)
        status, _, body = server.get("/index.html")
        assert status == 200 and b"healthsite-build-error" not in body and b"<script" not in body
        assert body == (tmp_path / "out" / "index.html").read_bytes(), "--no-reload serves the files as built"
    finally:
        assert server.stop() == 0
