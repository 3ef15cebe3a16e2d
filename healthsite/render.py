"""Stage 3, render: view models -> output files (path, bytes), through Jinja2 with autoescape on.

Every page is rendered by one compiled environment. Markdown from content is converted, then
sanitized with nh3 (an allow-list: no script, no event handlers, only http(s)/mailto/relative
links). Pages link relatively, so the site works from file://, a sub-path or a server.

The output: index.html (the dashboard) and its filters as plain pages, status/<status>.html and
platform/<id>.html; sources/<slug>.html (health pages, with the sync-history chart);
history/<slug>.html (sources with more runs than a health page shows); badges/<slug>.svg;
404.html; assets/; sources.json; .nojekyll. Every file goes to the write stage through
the write stage, so the leak scan reads every one of them, SVG and JSON included.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

import jinja2
import jinja2.compiler
import markdown
import nh3
from markupsafe import Markup

from .views import Labels, MissingLabel, RunView, SiteView, SourceView

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
EXPORT_FORMAT = "source-health-preview/sources"
EXPORT_VERSION = 1

_ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "code", "pre", "ul", "ol", "li", "a", "blockquote",
                 "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "del", "kbd"}
_ALLOWED_ATTRS = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
_URL_SCHEMES = {"http", "https", "mailto"}


class RenderError(Exception):
    """A template could not be rendered (a missing label, a template bug)."""


_md = markdown.Markdown(extensions=["tables", "sane_lists"], output_format="html")


@functools.lru_cache(maxsize=512)  # the banner is on every page: convert it once
def markdown_html(text: str | None) -> Markup:
    """Markdown -> HTML -> sanitized HTML. The sanitizer, not the Markdown library, is the gate."""
    if not text:
        return Markup("")
    html = _md.reset().convert(text)
    clean = nh3.clean(html, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRS, url_schemes=_URL_SCHEMES,
                      link_rel="noopener noreferrer", strip_comments=True)
    return Markup(clean)


def _iso(value: datetime) -> str:
    """value.strftime("%Y-%m-%dT%H:%M:%SZ"), without strftime's cost (see strftime)."""
    return "%d-%02d-%02dT%02d:%02d:%02dZ" % (value.year, value.month, value.day, value.hour, value.minute, value.second)


def strftime(value: datetime, fmt: str) -> str:
    """value.strftime(fmt), the same text: a page writes dozens of times, and datetime.strftime
    costs several times a plain format of the fields (it builds a time tuple and asks the C
    library each time). Formats with any directive not listed in _FIELDS go to strftime itself."""
    formatter = _formatter(fmt)
    return value.strftime(fmt) if formatter is None else formatter(value)


# Names as strftime writes them in the process's locale, read once from strftime itself.
_NAMES = {"b": tuple(datetime(2001, m, 1).strftime("%b") for m in range(1, 13)),
          "B": tuple(datetime(2001, m, 1).strftime("%B") for m in range(1, 13)),
          "a": tuple(datetime(2001, 1, 1 + d).strftime("%a") for d in range(7)),  # 2001-01-01 was a Monday
          "A": tuple(datetime(2001, 1, 1 + d).strftime("%A") for d in range(7))}
# Each supported directive as a printf conversion and the expression of d that fills it: only
# these fixed snippets make the formatter's code, never any text of the format itself.
_FIELDS = {"Y": ("%d", "d.year"), "y": ("%02d", "d.year % 100"), "m": ("%02d", "d.month"),
           "d": ("%02d", "d.day"), "e": ("%2d", "d.day"), "H": ("%02d", "d.hour"), "M": ("%02d", "d.minute"),
           "S": ("%02d", "d.second"), "j": ("%03d", "d.timetuple().tm_yday"),
           "b": ("%s", "b[d.month - 1]"), "B": ("%s", "B[d.month - 1]"),
           "a": ("%s", "a[d.weekday()]"), "A": ("%s", "A[d.weekday()]")}
_DIRECTIVE = re.compile(r"%(.?)", re.DOTALL)


@functools.lru_cache(maxsize=64)  # a handful of formats, from labels.yaml
def _formatter(fmt: str) -> Callable[[datetime], str] | None:
    pattern, fields = [], []
    last = 0
    for match in _DIRECTIVE.finditer(fmt):
        code = match.group(1)
        if code != "%" and code not in _FIELDS:
            return None  # anything else (%I, %p, %Z, a lone %...): strftime's own rules
        pattern.append(fmt[last:match.start()].replace("%", "%%"))
        conversion, expression = _FIELDS.get(code, ("%%", None))
        pattern.append(conversion)
        if expression:
            fields.append(expression)
        last = match.end()
    pattern.append(fmt[last:].replace("%", "%%"))
    # The format's text reaches the code as a value (PATTERN), never as code.
    code = f"lambda d: PATTERN % ({''.join(field + ', ' for field in fields)})"
    return eval(code, {"PATTERN": "".join(pattern), **_NAMES})  # noqa: S307 - fixed snippets only


class _CodeGenerator(jinja2.compiler.CodeGenerator):
    """Compiled templates that write the same text as stock Jinja's, byte for byte
    (tests/test_render.py holds them to it), with less work per value: a health page writes
    hundreds of them.

    - Autoescaped output as a plain string through _esc's rules (markupsafe.escape's): making a
      Markup object for each value was a third of a page's rendering time. A str value goes
      straight to markupsafe's C escaper, without the call to _esc.
    - `a.b` as Python's getattr first, and Jinja's environment.getattr (a dict's key, undefined)
      only when that finds nothing: the call to environment.getattr for every attribute cost
      more than the look-up.
    - A call of one of render.py's own globals (plain_globals) made directly, not through
      context.call, which looks each callee over for the context it might want.
    - A {% block %}'s body into a list, yielded once, instead of one yield per piece through
      three generators (block, base template, page)."""

    def blockvisit(self, nodes, frame) -> None:
        # Not for a block with an {% include %} in it: Jinja writes an include without context
        # as a yield, which would come out ahead of the block's own text.
        if not frame.block_frame or frame.buffer is not None or any(
                isinstance(node, jinja2.nodes.Include) or node.find(jinja2.nodes.Include) for node in nodes):
            super().blockvisit(nodes, frame)
            return
        frame.buffer = "_block_output"
        self.writeline("_block_output = []")
        try:
            super().blockvisit(nodes, frame)
        finally:
            frame.buffer = None
        self.writeline("yield concat(_block_output)")

    def write_commons(self) -> None:
        super().write_commons()
        self.writeline("escape_inner, plain_globals = environment.escape_inner, environment.plain_globals")

    def _output_child_pre(self, node, frame, finalize) -> None:
        self._inline_escape = False
        if frame.eval_ctx.autoescape and not frame.eval_ctx.volatile:
            if finalize.src is None:  # (_ev: the value, evaluated once)
                self._inline_escape = True
                self.write("(escape_inner(_ev) if type(_ev := ")
                return
            self.write("environment.escape_text(")
            self.write(finalize.src)
        else:
            super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node, frame, finalize) -> None:
        if self._inline_escape:
            self.write(") is str else environment.escape_text(_ev))")
        else:
            super()._output_child_post(node, frame, finalize)

    def visit_Call(self, node, frame, forward_caller: bool = False) -> None:
        """A call of one of render.py's own globals (chip, when, ...: plain functions that take
        no context) made directly; anything else through context.call, as Jinja does."""
        if forward_caller or self.environment.is_async or self.environment.sandboxed:
            super().visit_Call(node, frame, forward_caller)
            return
        self.write("(_cf(*()")  # (_cf: the callee; a call's own arguments are written after it)
        self.signature(node, frame)
        self.write(") if plain_globals.get(id(_cf := ")
        self.visit(node.node, frame)
        self.write(")) is _cf else context.call(_cf")
        loop_kwargs = {"_loop_vars": "_loop_vars"} if frame.loop_frame else {}
        block_kwargs = {"_block_vars": "_block_vars"} if frame.block_frame else {}
        self.signature(node, frame, dict(loop_kwargs, **block_kwargs) or None)
        self.write("))")

    @jinja2.compiler.optimizeconst
    def visit_Getattr(self, node, frame) -> None:
        if self.environment.is_async or not _plain_lookup(node.node):
            jinja2.compiler.CodeGenerator.visit_Getattr(self, node, frame)
            return
        # The object is a name or a chain of attributes of one (no call): evaluating it again,
        # on the rare way to environment.getattr, does nothing twice.
        self.write("(_ga if (_ga := getattr(")
        self.visit(node.node, frame)
        self.write(f", {node.attr!r}, missing)) is not missing else environment.getattr(")
        self.visit(node.node, frame)
        self.write(f", {node.attr!r}))")


def _plain_lookup(node) -> bool:
    while isinstance(node, jinja2.nodes.Getattr):
        node = node.node
    return isinstance(node, jinja2.nodes.Name) and node.ctx == "load"


class _Environment(jinja2.Environment):
    code_generator_class = _CodeGenerator
    # escape_text: _esc, escape_inner: markupsafe's C escaper, set below where they are defined
    plain_globals: dict = {}  # id -> function: globals called without context.call (make_environment)


def make_environment(templates: Path = TEMPLATES) -> jinja2.Environment:
    env = _Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Chips and times as Python globals: the same markup the templates had as macros, several
    # times faster (they are called thousands of times a build). Status is always the text.
    plain = {"chip": chip, "status_badge": status_badge, "when": when, "yes_no": yes_no, "run_rows": run_rows,
             "run_columns": run_columns}
    env.globals.update(plain)
    env.plain_globals = {id(function): function for function in plain.values()}  # called directly (_CodeGenerator)
    env.filters["markdown"] = markdown_html
    env.filters["iso"] = _iso
    env.filters["utc"] = strftime
    env.filters["duration"] = _duration
    env.filters["fill"] = fill
    env.filters["num"] = _num
    return env


def _esc(value: object) -> str:
    """markupsafe.escape as a plain string: the same five characters escaped the same way, without
    making a Markup object for each of the thousands of cells a build writes."""
    if type(value) is str:
        return _escape_inner(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return _escape_inner(str(value))


try:  # markupsafe's own C escaper, as markupsafe.escape calls it
    from markupsafe import _escape_inner
except ImportError:  # pragma: no cover - another markupsafe: the same rules in Python
    def _escape_inner(text: str) -> str:
        return (text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
                .replace("'", "&#39;").replace('"', "&#34;"))


_Environment.escape_text = staticmethod(_esc)
_Environment.escape_inner = staticmethod(_escape_inner)


def chip(text: str, tone: str) -> Markup:
    return Markup(_chip(text, tone))


def _chip(text: str, tone: str) -> str:
    return f'<span class="chip chip--{_esc(str(tone).lower())}">{_esc(text)}</span>'


def status_badge(status: str) -> Markup:
    status = _esc(status)
    return Markup(f'<span class="badge badge--{status}">{status}</span>')


def when(value: datetime | None, labels: Labels) -> Markup:
    """A UTC time for people, with its machine-readable form; "never" (labels) when None."""
    return Markup(_when(value, labels))


def _when(value: datetime | None, labels: Labels) -> str:
    if not value:
        return _esc(labels.never)
    return f'<time datetime="{_esc(_iso(value))}">{_esc(strftime(value, labels.datetime_format))}</time>'


def yes_no(value: bool, labels: Labels) -> str:
    return labels.yes if value else labels.no


def run_columns(runs) -> tuple[bool, bool]:
    """Whether a sync-history table has a Started and a Duration column: whether any of its runs
    has a start time, and any a duration."""
    return any(r.started_at for r in runs), any(r.duration_s is not None for r in runs)


def run_rows(runs, labels: Labels, numbered: bool, total: int, started, timed) -> Markup:
    """The body rows of a sync-history table (macros.html, runs_table): newest run first; with
    numbered, a first column with the run's number in the whole history. The Started and Duration
    cells only when the table has those columns (started, timed: truthy). Built here, not in a
    template loop: a health page has up to ten rows and a history page hundreds."""
    out = []
    run_label = labels.chart_run
    for i, r in enumerate(runs):
        cells = [f'    <tr><th scope="row" class="num">{_esc(fill(run_label, n=total - i))}</th>' if numbered else "    <tr>",
                 f'<td>{_chip(r.status, r.status)}</td><td class="num">{_esc(r.fetched)}</td>'
                 f'<td class="num">{_esc(r.processed)}</td><td class="num">{_esc(r.failed)}</td>'
                 f'<td>{_esc(r.api_version or "")}</td><td class="error">{_esc(r.error or "")}</td>']
        if started:
            cells.append(f"<td>{_when(r.started_at, labels) if r.started_at else ''}</td>")
        if timed:
            cells.append(f'<td class="num">{_esc(_duration(r.duration_s, labels)) if r.duration_s is not None else ""}</td>')
        cells.append("</tr>\n")
        out.append("".join(cells))
    return Markup("".join(out))


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def fill(template: str, **values: object) -> str:
    """Put values into a label's {name} placeholders. Only plain names are replaced (no attribute
    or index look-ups, unlike str.format), so a label cannot reach into the values it is given;
    an unknown placeholder is left as written."""
    if len(_fill_parts(template)) == 1:
        return template
    return filler(template, tuple(values))(*values.values())


@functools.lru_cache(maxsize=256)
def filler(template: str, names: tuple[str, ...]) -> Callable[..., str]:
    """fill(template, **dict(zip(names, values))) as a function of the values, for a label
    filled many times with the same names (the chart's bar titles): the template is parsed
    once. Its text reaches the function as values, never as code: the code is made of fixed
    snippets only (P[i], a0, a1, ...)."""
    parts = _fill_parts(template)
    pieces = [parts[0]]
    code = ["P[0]"]
    for i in range(1, len(parts), 2):
        name = parts[i]
        if name in names:
            code.append(f"str(a{names.index(name)})")
        else:  # left as written, as fill leaves it
            pieces.append("{" + name + "}")
            code.append(f"P[{len(pieces) - 1}]")
        pieces.append(parts[i + 1])
        code.append(f"P[{len(pieces) - 1}]")
    arguments = ", ".join(f"a{i}" for i in range(len(names)))
    return eval(f"lambda {arguments}: {' + '.join(code)}", {"P": tuple(pieces)})  # noqa: S307 - fixed snippets only


@functools.lru_cache(maxsize=1024)  # a few dozen labels, filled thousands of times a build
def _fill_parts(template: str) -> list[str]:
    """text, name, text, name, ..., text"""
    return _PLACEHOLDER.split(template)


def _num(value: float) -> str:
    """A coordinate for SVG: at most two decimals, no trailing zeros, never '-0'."""
    whole = int(value)
    if value == whole:  # most coordinates: no formatting needed
        return str(whole)
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _duration(seconds: float, labels: Labels) -> str:
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, labels.unit_hours), (minutes, labels.unit_minutes), (secs, labels.unit_seconds)]
    shown = [f"{n} {unit}" for n, unit in parts if n] or [f"0 {labels.unit_seconds}"]
    return " ".join(shown[:2])


def _inline_style_hash(css: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()


_RENDERERS: dict[str, "Renderer"] = {}


class Renderer:
    """One compiled environment, rendering a source's own files and the site-level files apart:
    a source's files depend only on the site shell (no other source), so they can be rendered in
    any process and cached per source; the site-level files are put together from summaries."""

    def __init__(self, templates: Path = TEMPLATES):
        self.templates = Path(templates)
        self.env = make_environment(self.templates)

    @classmethod
    def for_folder(cls, templates: Path = TEMPLATES) -> "Renderer":
        """One renderer per templates folder for the process: compiling the templates cost more
        than a whole small build. Jinja reloads a template whose file changed (serve edits them)."""
        key = str(Path(templates).resolve())
        if key not in _RENDERERS:
            _RENDERERS[key] = cls(templates)
        return _RENDERERS[key]

    def fresh(self) -> None:
        """At a build's start: a template edited since the last build is loaded again (serve, a
        test editing templates). Within the build none is checked again: with auto_reload, every
        get_template, and every {% extends %} and {% from %} of every page, is a stat of the file,
        and a page of a cold build made seven of them."""
        self.env.auto_reload = True
        for key in list(self.env.cache.keys()) if self.env.cache is not None else ():
            try:
                self.env.get_template(key[1])  # a new Template if its file changed, else the kept one
            except jinja2.TemplateError:  # gone or broken now: reported where a page uses it
                del self.env.cache[key]
        self.env.auto_reload = False

    def preload(self) -> None:
        """Load the templates a source's files and rows are made with, and the ones they extend
        or import. Called in the build's process before its workers fork: they then inherit them
        compiled rather than each compiling its own, and the process's next rebuild (serve's first
        save) does not compile them either."""
        for name in _SOURCE_TEMPLATES:
            try:
                self.env.get_template(name)
            except jinja2.TemplateError:  # missing or broken: reported where a page uses it
                pass

    def source_files(self, shell: SiteView, source: SourceView) -> list[tuple[str, bytes]]:
        """sources/<slug>.html, history/<slug>.html (long histories) and badges/<slug>.svg."""
        with _render_errors():
            common = {"site": shell, "labels": shell.labels}
            chart = sync_chart(source.recent_runs, len(source.runs), shell.labels)
            out = [(f"sources/{source.slug}.html", _encode(self.env.get_template("source.html").render(
                root="../", source=source, chart=chart, **common)))]
            if source.has_full_history:
                out.append((f"history/{source.slug}.html", _encode(self.env.get_template("history.html").render(
                    root="../", source=source, **common))))
            out.append((f"badges/{source.slug}.svg", _encode(self.env.get_template("badge.svg").render(
                badge=badge(source), **common))))
            return out

    def rows(self, shell: SiteView, source: SourceView) -> tuple[str, str]:
        """The source's row of the dashboard table, for the index and for the filter pages."""
        with _render_errors():
            template = self.env.get_template("macros.html")
            row = template.module.source_row
            # Made once, with a marker for the root that no content can hold (it is new each
            # process), then the root put in twice: only if the macro does nothing with root but
            # print it as it is (a template that tests or filters it means something else by
            # another root), and only if the marker is there once; else made twice.
            if _prints_root_only(self.env, template):
                text = str(row(source, _ROOT_MARK, shell.labels)).strip()
                if text.count(_ROOT_MARK) == 1:
                    return text.replace(_ROOT_MARK, ""), text.replace(_ROOT_MARK, "../")
            return str(row(source, "", shell.labels)).strip(), str(row(source, "../", shell.labels)).strip()

    def site_files(self, site: SiteView, dashboard: "Dashboard", only: set[tuple[str, str]] | None = None,
                   seams: "Callable[[str, list[str]], None] | None" = None,
                   ) -> Iterator[tuple[str, bytes | Iterator[bytes] | None]]:
        """The dashboard and its filter pages, 404, assets, sources.json and .nojekyll. The
        dashboard pages and sources.json come in pieces (an iterator of bytes): their rows and
        entries are read from the dashboard one at a time, as rows() and export_entry_text made
        them, and joined, never rendered again nor all held in memory. only: the filter pages to
        make, as ("status", id) or ("platform", id); the others come as (path, None), unchanged
        (an incremental build that changed rows but no count). seams: called with (path, texts)
        once a dashboard page or sources.json has come whole, texts its own text outside its rows,
        each part joined to the row beside it (_Ends.outside)."""
        with _render_errors():
            common = {"site": site, "labels": site.labels, "counts": dashboard.counts,
                      "platform_counts": dashboard.platform_counts, "total": dashboard.total,
                      "worst": dashboard.worst or "empty"}
            # sources.json first: the largest file, so a rebuild's workers scan it while this
            # process makes the dashboard pages.
            yield "sources.json", export_document(site, dashboard.counts, dashboard.entries(),
                                                  seams and functools.partial(seams, "sources.json"))
            index = self.env.get_template("index.html")
            yield "index.html", self._dashboard_page(index, dashboard, 0, None, None, seams and functools.partial(
                seams, "index.html"), root="", shown_count=dashboard.total, current=None, **common)
            # The filters, as plain pages: they work with no server and no script.
            for status in site.statuses:
                if only is not None and ("status", status) not in only:
                    yield f"status/{status}.html", None
                    continue
                yield f"status/{status}.html", self._dashboard_page(
                    index, dashboard, 1, "status", status, seams and functools.partial(seams, f"status/{status}.html"),
                    root="../", shown_count=dashboard.counts.get(status, 0),
                    current=("status", status), **common)
            for platform in site.platforms:
                if only is not None and ("platform", platform.id) not in only:
                    yield f"platform/{platform.id}.html", None
                    continue
                yield f"platform/{platform.id}.html", self._dashboard_page(
                    index, dashboard, 1, "platform", platform.id,
                    seams and functools.partial(seams, f"platform/{platform.id}.html"), root="../",
                    shown_count=dashboard.platform_counts.get(platform.id, 0), current=("platform", platform.id),
                    current_platform=platform, **common)
            try:
                css = (self.templates / "assets" / "style.css").read_text(encoding="utf-8")
            except OSError as exc:
                raise RenderError(f"{self.templates}/assets/style.css: cannot read the stylesheet: "
                                  f"{exc.strerror or exc}") from None
            yield "404.html", _page(self.env, "404.html", root="", inline_css=css,
                                    css_hash=_inline_style_hash(css), **common)
            for asset in sorted((self.templates / "assets").rglob("*")):
                if asset.is_file():
                    yield "assets/" + asset.relative_to(self.templates / "assets").as_posix(), asset.read_bytes()
            yield ".nojekyll", b""

    def _dashboard_page(self, template: jinja2.Template, dashboard: "Dashboard", which: int,
                        column: str | None, value: str | None, seams=None, **context) -> Iterator[bytes]:
        """A dashboard page in pieces: the template rendered once around a marker where the rows
        go, then the rows streamed into their place. seams: called with the page's text outside
        its rows (_Ends.outside), if every row is a whole element (begins with < and ends with >)."""
        with _render_errors():
            page = template.render(rows=Markup(_ROWS_MARK), **context)
        before, marker, after = page.partition(_ROWS_MARK)
        if not marker or _ROWS_MARK in after:  # a template that shows the rows twice, or not at all
            rows = Markup("\n      ".join(dashboard.rows(which, column, value)))
            with _render_errors():
                yield _encode(template.render(rows=rows, **context))
            return
        yield _encode(before)
        batch: list[str] = []
        first = True
        ends, whole = _Ends(), True
        for row in dashboard.rows(which, column, value):
            batch.append(row)
            if len(batch) == 512:
                if seams is not None:
                    ends.add(batch)
                    whole = whole and all(row.startswith("<") and row.endswith(">") for row in batch)
                yield _encode(("" if first else "\n      ") + "\n      ".join(batch))
                batch, first = [], False
        if batch:
            if seams is not None:
                ends.add(batch)
                whole = whole and all(row.startswith("<") and row.endswith(">") for row in batch)
            yield _encode(("" if first else "\n      ") + "\n      ".join(batch))
        yield _encode(after)
        if seams is not None and whole:
            seams(ends.outside(before, after))


class _Ends:
    """The first and last of a file's rows as they stream by, and how many, for outside."""

    def __init__(self):
        self.first = self.last = None
        self.count = 0

    def add(self, rows: list) -> None:
        if not self.count:
            self.first = rows[0]
        self.last = rows[-1]
        self.count += len(rows)

    def outside(self, before: str, after: str, text=str) -> list[str]:
        """The file's text outside its rows, each part with the row beside it (text: a row as
        text): before and the first row, the last row and after (one part for one row or none).
        A dashboard page's rows are joined by a newline and spaces, sources.json's entries by a
        comma and a newline: what is found in a file is found in these or in one of its rows, if
        no canary holds a newline, begins with a space or ends with a comma
        (Store.canary_may_cross_rows), as no token shape does (engine._scan_parts: a rebuild
        scans a site-level file as these and its new rows)."""
        if self.count <= 1:
            return [before + ("" if self.first is None else text(self.first)) + after]
        return [before + text(self.first), text(self.last) + after]


_ROOT_MARK = f"\0root-{os.urandom(16).hex()}\0"  # Renderer.rows: a stand-in for the root, never written


@functools.lru_cache(maxsize=8)  # per Template object: a new one when its file changes
def _prints_root_only(env: jinja2.Environment, template: jinja2.Template) -> bool:
    """Does macros.html's source_row use its root only as {{ root }}, printed as it is?"""
    source = env.loader.get_source(env, template.name)[0]
    macro = next((m for m in env.parse(source).find_all(jinja2.nodes.Macro) if m.name == "source_row"), None)
    if macro is None:
        return False

    def only_printed(node: jinja2.nodes.Node, parent: jinja2.nodes.Node | None) -> bool:
        if isinstance(node, jinja2.nodes.Name) and node.name == "root":
            return node.ctx == "load" and isinstance(parent, jinja2.nodes.Output)
        return all(only_printed(child, node) for child in node.iter_child_nodes())

    return all(only_printed(node, None) for node in macro.body)

# Where the rows go in a dashboard page: text no template writes. Should content ever hold it, the
# page has it twice and is rendered whole (_dashboard_page checks).
_ROWS_MARK = "\0healthsite-dashboard-rows\0"


@dataclass(frozen=True)
class Dashboard:
    """What the site-level pages need of the sources, without holding them: counts, the worst
    status, and the rows (rows(which, column, value): 0 the index's, 1 a filter page's, of the
    sources whose column is value) and sources.json entries, read in the dashboard's order."""

    total: int
    counts: Counter
    platform_counts: Counter
    worst: str | None
    rows: "Callable[[int, str | None, str | None], Iterable[str]]"
    entries: "Callable[[], Iterable[bytes]]"


_SOURCE_TEMPLATES = ("base.html", "macros.html", "source.html", "history.html", "badge.svg")


class _render_errors:
    """Template failures as RenderError, naming the template line or the missing label."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, MissingLabel):
            raise RenderError(f"catalog/labels.yaml: a template needs the label {exc.key!r}, which is missing") from None
        if isinstance(exc, jinja2.TemplateError):
            where = f"{exc.filename}:{exc.lineno}: " if getattr(exc, "lineno", None) else ""
            raise RenderError(f"{where}template error: {exc.message}") from None
        return False


# ---- the sync-history chart -------------------------------------------------------------------
SERIES = ("fetched", "processed", "failed")
# Fallback fills, for a viewer without the stylesheet; the stylesheet sets the themed colours.
SERIES_FILL = {"fetched": "#2f6db5", "processed": "#2e7d4f", "failed": "#c0392b"}


class Bar(NamedTuple):  # named tuples: a chart makes dozens, and a frozen dataclass is slow to make
    series: str
    value: int
    x: float
    y: float
    width: float
    height: float
    attrs: str  # x, y, width and height, formatted once for the template
    fill: str
    title: str  # "#3 · Fetched: 1000", from labels


class ChartGroup(NamedTuple):
    number: int  # the run's number in the whole history, the oldest being 1
    run: RunView
    x: str  # centre of the group, for its labels
    bars: tuple[Bar, ...]
    lines: tuple[str, ...]  # the labels under the group: start date and time, or the run number
    svg: Markup = Markup("")  # the group's SVG, escaped: put together once, not in a template loop


@dataclass(frozen=True, slots=True)
class Chart:
    """A grouped bar chart of fetched / processed / failed per run, oldest run on the left.

    The layout, with every word already taken from labels.yaml; the template (macros.html,
    sync_chart) only writes it out. Coordinates are preformatted: a health page has up to 30
    bars, and formatting them in Python once is several times faster than in the template."""

    width: int
    height: int
    left: str
    right: str  # x of the plot's right edge
    top: int
    bottom: int  # y of the baseline
    ticks: tuple[tuple[int, str, str], ...]  # (value, y, y of its text)
    groups: tuple[ChartGroup, ...]
    first: int  # number of the oldest run shown
    last: int  # number of the newest run shown
    title: str
    desc: str  # the text alternative: every number of the chart, oldest run first
    label_y: tuple[str, str, str]  # y of the group's label lines and of its status


def _nice_max(value: int) -> int:
    """The smallest 1, 2, 4, 5 or 8 x 10^k at or above value (at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 4, 5, 8):
            if step * m >= value:
                return step * m
        step *= 10


def sync_chart(runs: tuple[RunView, ...], total: int, labels: Labels, width: int = 720,
               height: int = 240) -> Chart | None:
    """Lay out the chart for runs given newest first (as in the content); total is the number of
    runs in the whole history, so the bars are numbered as the history page numbers them."""
    if not runs:
        return None
    left, right, top, bottom = 56, width - 8, 12, height - 50
    top_value = _nice_max(max(max(r.fetched, r.processed, r.failed) for r in runs))
    plot_h = bottom - top
    ordered = tuple(reversed(runs))  # oldest first: time runs left to right
    bar_w, width_text, columns = _columns(len(ordered), left, right)
    series_names = {series: labels["col_" + series] for series in SERIES}
    run_label, bar_label, run_desc = labels.chart_run, labels.chart_bar, labels.chart_desc_run
    date_format, time_format = labels.chart_date_format, labels.chart_time_format
    groups, desc = [], [fill(labels.chart_desc, first=total - len(ordered) + 1, last=total, total=total)]
    first = total - len(ordered) + 1
    run_name = filler(run_label, ("n",))
    bar_title = filler(bar_label, ("run", "series", "value"))
    run_text = filler(run_desc, ("n", "status", "fetched", "processed", "failed"))
    named = [(series, series_names[series], SERIES_FILL[series]) for series in SERIES]
    for i, (run, (centre_text, xs)) in enumerate(zip(ordered, columns)):
        number = first + i
        name = run_name(number)
        bars = []
        for (series, series_name, colour), value, (x, x_text) in zip(named, (run.fetched, run.processed, run.failed), xs):
            h = plot_h * value / top_value
            y = bottom - h
            bars.append(Bar(series, value, x, y, bar_w, h,
                            f'x="{x_text}" y="{_num(y)}" width="{width_text}" height="{_num(h)}"',
                            colour, bar_title(name, series_name, value)))
        lines = ((strftime(run.started_at, date_format), strftime(run.started_at, time_format)) if run.started_at
                 else (name,))
        groups.append((number, run, centre_text, tuple(bars), lines))
        desc.append(run_text(number, run.status, run.fetched, run.processed, run.failed))
    values = (0, top_value // 2, top_value) if top_value >= 2 else (0, top_value)
    ticks = tuple((v, _num(bottom - plot_h * v / top_value), _num(bottom - plot_h * v / top_value + 4))
                  for v in values)
    label_y = (_num(bottom + 15), _num(bottom + 29), _num(bottom + 43))
    groups = [ChartGroup(*g, svg=_group_svg(g[1].status, g[2], g[3], g[4], label_y)) for g in groups]
    return Chart(width, height, _num(left), _num(right), top, bottom, ticks, tuple(groups), first, total,
                 labels.chart_title, " ".join(desc), label_y)


@functools.lru_cache(maxsize=64)  # a chart's columns depend only on how many runs it shows
def _columns(count: int, left: int, right: int) -> tuple[float, str, tuple[tuple[str, tuple[tuple[float, str], ...]], ...]]:
    """The bars' width (and as text), and for each of count runs the centre of its group (as
    text) and each series' bar's x (and as text)."""
    slot = (right - left) / count
    bar_w = min(slot * 0.8 / len(SERIES), 28.0)
    half = bar_w * len(SERIES) / 2
    columns = []
    for i in range(count):
        centre = left + slot * (i + 0.5)
        x0 = centre - half
        columns.append((_num(centre), tuple((x0 + j * bar_w, _num(x0 + j * bar_w)) for j in range(len(SERIES)))))
    return bar_w, _num(bar_w), tuple(columns)


def _group_svg(status: str, x: str, bars: tuple[Bar, ...], lines: tuple[str, ...], label_y: tuple[str, str, str]) -> Markup:
    """One run's bars and labels. The markup the chart macro wrote per bar, built here once per
    run: the chart was half of a health page's rendering time as a template loop."""
    status = _esc(status)
    out = [f'<g class="chart-run chart-run--{status}">']
    for b in bars:
        out.append(f'<rect class="bar bar--{_esc(b.series)}" {b.attrs} fill="{_esc(b.fill)}">'
                   f'<title>{_esc(b.title)}</title></rect>')
    for i, line in enumerate(lines):
        out.append(f'<text class="chart-label" x="{x}" y="{label_y[i]}" text-anchor="middle" '
                   f'font-size="{11 if i == 0 else 10}">{_esc(line)}</text>')
    out.append(f'<text class="chart-status" x="{x}" y="{label_y[2]}" text-anchor="middle" '
               f'font-size="10">{status}</text>')
    out.append("</g>")
    return Markup("\n".join(out) + "\n")


# ---- the status badge -------------------------------------------------------------------------
# Approximate advance widths of Verdana at 11 px, as shields.io measures: enough to size a
# badge's two halves without a font file. Unlisted characters count as wide.
_NARROW = {c: 3.9 for c in "fijlrt!|.,:;'`()[]{}"}
_NARROW.update({" ": 3.9, "I": 4.6, "-": 4.6, "/": 4.6, "_": 7.0})
_WIDE = {c: 10.0 for c in "mwMW@%"}
_BADGE_LABEL_MAX = 40


def text_width(text: str) -> float:
    total = 0.0
    for c in text:
        if c in _NARROW:
            total += _NARROW[c]
        elif c in _WIDE:
            total += _WIDE[c]
        elif c.isupper() or c.isdigit():
            total += 7.6
        elif c.isascii():
            total += 6.8
        else:
            total += 8.5
    return total


@dataclass(frozen=True)
class Badge:
    label: str
    message: str
    status: str
    label_width: float
    width: float


def badge(source: SourceView) -> Badge:
    label = source.name if len(source.name) <= _BADGE_LABEL_MAX else source.name[:_BADGE_LABEL_MAX - 1] + "…"
    label_w = round(text_width(label) + 12)
    message_w = round(text_width(source.status) + 12)
    return Badge(label, source.status, source.status, label_w, label_w + message_w)


def _page(env: jinja2.Environment, name: str, **context) -> bytes:
    return _encode(env.get_template(name).render(**context))


def _encode(text: str) -> bytes:
    return text.encode("utf-8")


def export_entry(s: SourceView) -> dict:
    """One source in sources.json (docs/export.md; schema/sources.schema.json)."""
    t = s.technical
    return {
        "slug": s.slug,
        "name": s.name,
        "url": f"sources/{s.slug}.html",
        "history_url": f"history/{s.slug}.html" if s.has_full_history else None,
        "badge_url": f"badges/{s.slug}.svg",
        "platform": {"id": s.platform.id, "name": s.platform.name},
        "status": s.status,
        "reasons": [{"code": r.code, "severity": r.severity, "message": r.message} for r in s.reasons],
        "technical": {
            "enabled": t.enabled,
            "api_version_review": t.api_version_review,
            "schema_changed": t.schema_changed,
            "changelog_review_required": t.changelog_review_required,
            "field_mapping_check_required": t.field_mapping_check_required,
            "mapping_status": t.mapping_status,
            "last_successful_sync": _iso(t.last_successful_sync) if t.last_successful_sync else None,
        },
        "data_quality": [{"severity": d.severity, "code": d.code, "message": d.message} for d in s.data_quality],
        "sync_runs": len(s.runs),
        "last_sync_status": s.runs[0].status if s.runs else None,
        "sync_history": [{"status": r.status, "fetched": r.fetched, "processed": r.processed, "failed": r.failed,
                          "api_version": r.api_version, "error": r.error,
                          "started_at": _iso(r.started_at) if r.started_at else None,
                          "duration_s": r.duration_s} for r in s.runs],
        "external_accounts": [{"name": a.name, "masked_ref": a.masked_ref, "selected": a.selected,
                               "mapping_status": a.mapping_status} for a in s.accounts],
    }


def export_entry_text(s: SourceView) -> bytes:
    """export_entry as its line of sources.json, in UTF-8: a cached source's entry is reused as it
    is. Compact, one source a line: json's C encoder only runs without indent, and the file is
    2.5x smaller. Kept as it is, not compressed: the store is on disk, and compressing every
    entry cost as much as encoding it."""
    return json.dumps(export_entry(s), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def export_document(site: SiteView, counts: Counter, entries: Iterable[bytes],
                    seams: "Callable[[list[str]], None] | None" = None) -> Iterator[bytes]:
    """sources.json, in pieces: the authorized profile's sources, masked, in a documented
    versioned format (docs/export.md; schema/sources.schema.json). Keys are only ever added
    within a version. The head indented, then one source a line (a diff shows which source
    changed); streamed, because with thousands of sources it is the largest file of the site.
    entries: each source's export_entry_text, in the dashboard's order (any iterable). seams:
    called with its text outside the entries once it has come whole (_Ends.outside)."""
    head = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "profile": site.profile_id,
        "title": site.title,
        "counts": {status: counts.get(status, 0) for status in site.statuses},
        "sources": [],
    }
    text = json.dumps(head, ensure_ascii=False, indent=2)
    assert text.endswith('"sources": []\n}')
    opening, closing = text[: -len("[]\n}")] + "[\n", "\n  ]\n}\n"
    first = True
    ends = _Ends()
    for entry in entries:
        yield (opening.encode("utf-8") if first else b",\n") + entry
        first = False
        if seams is not None:
            ends.add((entry,))
    yield (text + "\n").encode("utf-8") if first else closing.encode("utf-8")
    if seams is not None:
        seams([text + "\n"] if first else ends.outside(opening, closing, lambda entry: entry.decode("utf-8")))

