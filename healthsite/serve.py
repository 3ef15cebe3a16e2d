"""`serve`: build, serve the output on 127.0.0.1, rebuild on change and reload open pages.

A development server only (the stdlib's ThreadingHTTPServer): it serves the output folder
under a base path ("/" or a GitHub-Pages-like "/repo/"), refuses anything that would leave
that folder (``..``, its encoded forms, symbolic links pointing out) and answers only to a
local Host header. The live-reload hook is added to HTML responses in memory, never to files
on disk, so `build` output stays byte-identical: a tiny inline script, allowed by its hash in a
rewritten Content-Security-Policy meta, listens to Server-Sent Events on ``<base>__reload`` and
reloads the page when a build finishes. A failed rebuild is printed (path:line:col) and shown
as a banner on every served page, while the last good site is served.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import mimetypes
import os
import re
import signal
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click

from . import engine, pipeline, render
from .problems import ContentError, OutputError
from .write import is_built_site

RELOAD_ENDPOINT = "__reload"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
_CSP_META = re.compile(r'(<meta\s+http-equiv="Content-Security-Policy"\s+content=")([^"]*)(")', re.IGNORECASE)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)

OVERLAY_CSS = (
    "#healthsite-build-error{position:sticky;top:0;z-index:1000;margin:0;padding:.75rem 1rem;"
    "background:#5c0a0a;color:#fff;border-bottom:4px solid #ffb3b3;font:1rem/1.4 system-ui,sans-serif}"
    "#healthsite-build-error pre{margin:.5rem 0 0;white-space:pre-wrap;overflow-wrap:anywhere;"
    "font:.9rem/1.4 ui-monospace,monospace;max-height:40vh;overflow:auto}"
)


def normalize_base_path(value: str) -> str:
    """'/', 'repo', '/repo', '/a/b/' -> '/', '/repo/', '/repo/', '/a/b/'."""
    parts = [p for p in value.strip().split("/") if p]
    for part in parts:
        if not _SEGMENT.match(part) or part in (".", ".."):
            raise click.BadParameter(f"{value!r}: use plain path segments such as /repo/", param_hint="--base-path")
    return "/" + "".join(p + "/" for p in parts)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


class State:
    """What the server shows: the output folder, the build generation and the last build error."""

    def __init__(self, out: Path, base: str, reload: bool):
        self.out = Path(os.path.abspath(out))
        self.base = base
        self.reload = reload
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.token = base64.b32encode(os.urandom(5)).decode().lower()
        self.generation = 0
        self.error: str | None = None
        self.building = False

    @property
    def version(self) -> str:
        return f"{self.token}-{self.generation}"

    def publish(self, error: str | None) -> None:
        with self.changed:
            self.error = error
            self.generation += 1
            self.building = False
            self.changed.notify_all()

    def wait_until_built(self, timeout: float = 30.0) -> None:
        with self.changed:
            self.changed.wait_for(lambda: not self.building, timeout=timeout)


def rebuild(state: State, content_dir: Path, profile: str | None, templates: Path) -> bool:
    """Build once; print the outcome; publish it to the open pages. True when the build succeeded."""
    with state.changed:
        state.building = True
    lines: list[str] = []
    try:
        # A build cache in memory: a save rebuilds only what changed, and nothing is written
        # outside the output folder.
        result = pipeline.build(content_dir, state.out, profile, False, templates, cache_dir=engine.MEMORY)
    except ContentError as exc:
        lines = [str(p) for p in exc.problems]
        errors = sum(1 for p in exc.problems if p.severity == "error")
        lines.append(f"{errors} error(s)")
    except pipeline.LeakError as exc:
        lines = [str(leak) for leak in exc.leaks] + [f"leak scan failed ({len(exc.leaks)} finding(s))"]
    except (OutputError, render.RenderError) as exc:
        lines = [f"error: {exc}"]
    except Exception as exc:  # a bug must not stop the server: show it and keep serving
        traceback.print_exc()
        lines = [f"internal error: {type(exc).__name__}: {exc}"]
    else:
        for warning in result.warnings:
            click.echo(str(warning), err=True)
        click.echo(f"built {result.sources} sources, {result.pages} pages in {result.seconds:.2f} s")
        state.publish(None)
        return True
    for line in lines:
        click.echo(line, err=True)
    click.echo("build failed: still serving the last good site", err=True)
    state.publish("\n".join(lines))
    return False


def inject(page: bytes, state: State, host: str) -> bytes:
    """The served copy of an HTML page: reload script and error banner, both allowed by hash."""
    text = page.decode("utf-8", errors="replace")
    with state.changed:
        version, error = state.version, state.error
    endpoint = f"{state.base}{RELOAD_ENDPOINT}"
    allow: dict[str, str] = {}
    if error is not None:
        banner = ('<div id="healthsite-build-error" role="alert"><strong>Build failed: showing the last good '
                  'site.</strong> Fix the file and save; this page reloads.'
                  f'<pre>{html.escape(error)}</pre></div>')
        style = f"<style>{OVERLAY_CSS}</style>"
        allow["style-src"] = _hash(OVERLAY_CSS)
        match = _BODY_OPEN.search(text)
        at = match.end() if match else 0
        text = text[:at] + style + banner + text[at:]
    if state.reload:
        script = ("(function(){var v=%s;var es=new EventSource(%s);es.onmessage=function(e){"
                  "if(e.data!==v){es.close();location.reload();}};})();") % (json.dumps(version), json.dumps(endpoint))
        allow["script-src"] = _hash(script)
        allow["connect-src"] = f"http://{host}{endpoint}"
        tag = f"<script>{script}</script>"
        ends = list(_BODY_CLOSE.finditer(text))
        text = text[:ends[-1].start()] + tag + text[ends[-1].start():] if ends else text + tag
    if allow:
        text = _CSP_META.sub(lambda m: m.group(1) + _extend_csp(html.unescape(m.group(2)), allow) + m.group(3), text,
                             count=1)
    return text.encode("utf-8")


def _extend_csp(policy: str, allow: dict[str, str]) -> str:
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    by_name = {d.split()[0].lower(): i for i, d in enumerate(directives)}
    default = directives[by_name["default-src"]].split()[1:] if "default-src" in by_name else []
    for name, source in allow.items():
        if name in by_name:
            i = by_name[name]
            kept = [s for s in directives[i].split()[1:] if s != "'none'"]
            directives[i] = " ".join([name, *kept, source])
        else:
            kept = [s for s in default if s != "'none'"]
            directives.append(" ".join([name, *kept, source]))
    return html.escape("; ".join(directives), quote=False).replace('"', "&quot;")


class Handler(BaseHTTPRequestHandler):
    server_version = "healthsite-serve"
    sys_version = ""
    state: State  # set on the subclass made by make_server

    def log_message(self, format, *args):  # noqa: A002 - quiet: the terminal is for build output
        pass

    def do_HEAD(self):
        self._handle(head=True)

    def do_GET(self):
        self._handle(head=False)

    # -- responses -------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str, head: bool, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _plain(self, status: int, message: str, head: bool) -> None:
        self._send(status, (message + "\n").encode(), "text/plain; charset=utf-8", head)

    def _redirect(self, location: str, head: bool) -> None:
        self._send(HTTPStatus.MOVED_PERMANENTLY, b"", "text/plain; charset=utf-8", head, {"Location": location})

    # -- routing ---------------------------------------------------------------------------------
    def _handle(self, head: bool) -> None:
        state = self.state
        host = self.headers.get("Host", "")
        if host.rsplit(":", 1)[0].lower() not in LOCAL_HOSTS:  # DNS-rebinding guard
            return self._plain(HTTPStatus.MISDIRECTED_REQUEST, "only local Host names are served", head)
        parts = urlsplit(self.path)
        path = unquote(parts.path, errors="strict") if parts.path.startswith("/") else ""
        if not path or "\x00" in path or "\\" in path:
            return self._plain(HTTPStatus.BAD_REQUEST, "bad request path", head)
        if path + "/" == state.base:
            return self._redirect(state.base + (f"?{parts.query}" if parts.query else ""), head)
        if not path.startswith(state.base):
            return self._plain(HTTPStatus.NOT_FOUND, f"not found: the site is served under {state.base}", head)
        rel = path[len(state.base):]
        segments = rel.split("/")
        if any(s in (".", "..") for s in segments):
            return self._plain(HTTPStatus.FORBIDDEN, "refused: outside the site folder", head)
        if rel == RELOAD_ENDPOINT and state.reload:
            return self._events(head)
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        self._file(rel, host, head)

    def _resolve(self, rel: str) -> tuple[str, str | None]:
        """('ok', real path) | ('missing', None) | ('refused', None) | ('dir', None)."""
        root = os.path.realpath(self.state.out)
        real = os.path.realpath(os.path.join(root, *rel.split("/")))
        if real != root and not real.startswith(root + os.sep):
            return "refused", None
        if os.path.isdir(real):
            return "dir", None
        if not os.path.isfile(real):
            return "missing", None
        return "ok", real

    def _read(self, rel: str) -> tuple[str, bytes | None]:
        for attempt in range(2):
            kind, real = self._resolve(rel)
            if kind == "ok":
                try:
                    with open(real, "rb") as fh:  # once open, the bytes survive the output folder's swap
                        return kind, fh.read()
                except FileNotFoundError:
                    kind = "missing"
            if kind != "missing" or attempt:
                return kind, None
            self.state.wait_until_built()  # the folder may be mid-swap: look again once the build is done
        return "missing", None

    def _file(self, rel: str, host: str, head: bool) -> None:
        state = self.state
        kind, data = self._read(rel)
        if kind == "refused":
            return self._plain(HTTPStatus.FORBIDDEN, "refused: outside the site folder", head)
        if kind == "dir":
            return self._redirect(state.base + rel + "/", head)
        status = HTTPStatus.OK
        if data is None:
            status = HTTPStatus.NOT_FOUND
            rel = "404.html"
            kind, data = self._read(rel)
            if data is None:
                if state.error is not None and not is_built_site(state.out):
                    data, status = _error_page(), HTTPStatus.SERVICE_UNAVAILABLE
                else:
                    return self._plain(HTTPStatus.NOT_FOUND, "not found", head)
        ctype = mimetypes.guess_type(rel)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/json", "image/svg+xml", "application/javascript"):
            ctype += "; charset=utf-8"
        if rel.endswith(".html"):
            data = inject(data, state, host)
        self._send(status, data, ctype, head)

    def _events(self, head: bool) -> None:
        state = self.state
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if head:
            return
        sent = None
        try:
            self.wfile.write(b"retry: 500\n\n")
            while not state.stopping.is_set():
                with state.changed:
                    if state.version == sent:
                        state.changed.wait(timeout=10)
                    version = state.version
                self.wfile.write(f"data: {version}\n\n".encode() if version != sent else b": ping\n\n")
                self.wfile.flush()
                sent = version
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
        self.close_connection = True


def _error_page() -> bytes:
    return (b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            b'<meta name="viewport" content="width=device-width, initial-scale=1">'
            b'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
            b"<title>Build failed</title></head><body><main><h1>Build failed</h1>"
            b"<p>There is no good build to show yet.</p></main></body></html>\n")


def make_server(state: State, port: int) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def watch(state: State, content_dir: Path, profile: str | None, templates: Path, ready: threading.Event,
          since_ns: int) -> None:
    """Rebuild whenever the content or the templates change, until state.stopping is set.

    ready is set once the watcher is in place; a change made between the first build (which
    started at since_ns) and that moment is caught up with one rebuild.
    """
    import watchfiles  # a maintained, native watcher (inotify/FSEvents/ReadDirectoryChangesW)

    out = os.path.realpath(state.out)
    default_filter = watchfiles.DefaultFilter()

    def relevant(change, path: str) -> bool:
        real = os.path.realpath(path)
        if real == out or real.startswith(out + os.sep) or os.path.basename(path).startswith(f".{state.out.name}."):
            return False
        return default_filter(change, path)

    for changes in watchfiles.watch(content_dir, templates, watch_filter=relevant, debounce=200, step=50,
                                    stop_event=state.stopping, raise_interrupt=False, rust_timeout=300,
                                    yield_on_timeout=True):
        if state.stopping.is_set():
            break
        if not ready.is_set():
            ready.set()
            if changes or _changed_since(since_ns, content_dir, templates):
                rebuild(state, content_dir, profile, templates)
        elif changes:
            rebuild(state, content_dir, profile, templates)


def _changed_since(since_ns: int, *folders: Path) -> bool:
    for folder in folders:
        for path in Path(folder).rglob("*"):
            try:
                if path.stat().st_mtime_ns >= since_ns:
                    return True
            except OSError:
                continue
    return False


def run(content_dir: Path, out_dir: Path, profile: str | None, port: int, base_path: str = "/",
        reload: bool = True, templates: Path = render.TEMPLATES) -> None:
    """Build, serve on 127.0.0.1:port under base_path, rebuild on change; return on Ctrl-C."""
    base = normalize_base_path(base_path)
    content_dir, templates = Path(content_dir), Path(templates)
    if not content_dir.is_dir():
        raise click.ClickException(f"{content_dir}: content folder not found")
    state = State(out_dir, base, reload)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main else None
    server = watcher = None
    try:
        since_ns = time.time_ns()
        rebuild(state, content_dir, profile, templates)
        try:
            server = make_server(state, port)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
        ready = threading.Event()
        watcher = threading.Thread(target=watch, args=(state, content_dir, profile, templates, ready, since_ns),
                                   daemon=True, name="healthsite-watch")
        watcher.start()
        ready.wait(timeout=10)
        click.echo(f"serving {state.out} at http://127.0.0.1:{server.server_port}{base} "
                   f"(watching {content_dir} and {templates}; Ctrl-C to stop)")
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        state.stopping.set()
        with state.changed:
            state.changed.notify_all()
        if server is not None:
            server.server_close()
        if watcher is not None:
            watcher.join(timeout=2)
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    click.echo("stopped")


def _interrupt(signum, frame):
    raise KeyboardInterrupt

