"""Shared tools of the hostile-input suite: a workspace per case, the two verdicts, fake tokens.

Every case runs in its own tmp folder:

    tmp/content/          site.yaml + catalog/ copied from the shipped content, plus one source
    tmp/public/site/      the output; tmp/public/ is its parent, watched for leftovers

A case is judged by one of two verdicts:

* ``expect_rejected``: exit 1, no traceback, the file (and line) named as ``path:line:col:``,
  no secret repeated, the previous output byte-identical and nothing new beside it;
* ``expect_harmless``: the build succeeded, no page holds a script, a frame, an event handler
  or a script/data URL, the hostile text shows as text, and no canary is in any output byte.

The secret values are assembled at run time from pieces, so no token-shaped literal sits in the
repository (secret scanners and push protection stay quiet).
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
from pathlib import Path

import yaml
from bs4 import BeautifulSoup
from click.testing import CliRunner, Result

from healthsite.cli import cli

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "content"
TEMPLATES = REPO / "templates"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

PROFILE = yaml.safe_load((SHIPPED / "site.yaml").read_text(encoding="utf-8"))["profile"]
OTHER = next(p["id"] for p in yaml.safe_load((SHIPPED / "catalog" / "profiles.yaml").read_text(encoding="utf-8"))
             if p["id"] != PROFILE)
PLATFORM = "tiktok_ads"
REF = "tt_7123456789_fr"  # the base source's raw ref; shows as tt_•••_fr
MASKED = "tt_•••_fr"
BASE_SLUG = "hostile-base"
BASE_NAME = "Hostile Base Source"

# A valid source; cases edit single lines of it so the expected line number is known.
BASE_SOURCE = f"""\
name: {BASE_NAME}
platform: {PLATFORM}
profile: {PROFILE}
context: Post-connection review (preview).
status: degraded
reasons:
  - auth_expired
technical:
  enabled: true
  api_version_review: NOT_REQUIRED
  schema_changed: false
  changelog_review_required: false
  field_mapping_check_required: false
  mapping_status: confirmed
  last_successful_sync: 2026-11-20T08:15:00Z
actions:
  - id: reconnect
    state: blocked
    reason: Waiting for an admin.
data_quality:
  - severity: WARNING
    code: partial_data
    message: Some rows were rejected.
sync_history:
  - status: partial
    fetched: 1000
    processed: 990
    failed: 10
    api_version: v1.3
    error: Ten rows were rejected.
    started_at: 2026-11-20T08:00:00Z
    duration_s: 900
external_accounts:
  - name: Hostile Base Account
    ref: {REF}
    profile: {PROFILE}
    selected: true
    mapping_status: confirmed
notes: Plain notes.
"""

PROBLEM_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$")


# ---- fake secrets -----------------------------------------------------------------------------
def fake(*parts: str) -> str:
    """A token-shaped test value, joined from pieces (see the module docstring)."""
    return "".join(parts)


_B = "Q7w3Zx9Lm2Kp8Rt4Vn6Yb1Hc5Jd0Fg"  # 30 filler characters, alphanumeric


def tokens(tag: str) -> dict[str, str]:
    """One fake value per token family, unique to tag so a case checks its own value."""
    t = re.sub(r"[^A-Za-z0-9]", "", tag)[:8] or "x"
    return {
        "shopify_shpat": fake("shp", "at_", t, _B),
        "shopify_shpss": fake("shp", "ss_", t, _B),
        "shopify_shpca": fake("shp", "ca_", t, _B),
        "shopify_shppa": fake("shp", "pa_", t, _B),
        "github_ghp": fake("gh", "p_", t, _B, "abcdef"),
        "github_pat": fake("github", "_pat_", t, "_", _B, "ABCDEF"),
        "stripe_live": fake("sk", "_live_", t, _B[:20]),
        "aws_key": fake("AK", "IA", (t.upper() + "ABCDEFGHIJKLMNOP")[:16]),
        "google_api": fake("AI", "za", "Sy", t, _B, "-_x"),
        "slack_bot": fake("xo", "xb-", "123456789012-", t, "ABCdef"),
        "jwt": fake("ey", "JhbGciOiJIUzI1NiJ9.", "ey", "JzdWIiOiI", t, "In0.", "c2lnbmF0dXJl", t),
        "private_key": fake("-----BEGIN ", "PRIVATE KEY-----"),
    }


def private_key_block(tag: str) -> str:
    return fake("-----BEGIN ", "RSA PRIVATE KEY-----\n", "MIIEow", tag, _B, "\n-----END ", "RSA PRIVATE KEY-----")


# ---- editing sources --------------------------------------------------------------------------
def edit(text: str, old: str, new: str) -> str:
    """Replace the whole line(s) of text that are exactly old (once in text) with new (any lines)."""
    pattern = re.compile(rf"^{re.escape(old)}$", re.M)
    hits = pattern.findall(text)
    assert len(hits) == 1, f"{old!r} is {len(hits)} times in the text, not once"
    return pattern.sub(lambda _: new, text)


def line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of needle."""
    index = text.index(needle)
    return text.count("\n", 0, index) + 1


# ---- a workspace per case ---------------------------------------------------------------------
class Workspace:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.content = tmp / "content"
        self.public = tmp / "public"
        self.out = self.public / "site"
        (self.content / "sources").mkdir(parents=True)
        shutil.copyfile(SHIPPED / "site.yaml", self.content / "site.yaml")
        shutil.copytree(SHIPPED / "catalog", self.content / "catalog")
        self.write(f"sources/{BASE_SLUG}.yaml", BASE_SOURCE)
        self.public.mkdir()

    def path(self, rel: str) -> Path:
        return self.content / rel

    def write(self, rel: str, data: str | bytes) -> Path:
        path = self.content / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        return path

    def read(self, rel: str) -> str:
        return (self.content / rel).read_text(encoding="utf-8")

    def build(self, *args: str, content: Path | None = None, out: Path | None = None,
              templates: Path | None = None) -> Result:
        argv = ["build", "--content", str(content or self.content), "--out", str(out or self.out), *args]
        if templates is not None:
            argv += ["--templates", str(templates)]
        return CliRunner().invoke(cli, argv)

    def check(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["check", "--content", str(self.content), *args])

    def prime(self) -> dict[str, str]:
        """Build the untouched workspace into out: the 'previous output' a failed build must keep."""
        result = self.build()
        assert result.exit_code == 0, result.output
        return snapshot(self.public)

    def snapshot(self) -> dict[str, str]:
        return snapshot(self.public)


def snapshot(folder: Path) -> dict[str, str]:
    """relative path -> sha256 (or '/' for a folder, '->' for a link) of everything under folder."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = "->" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "/"
    return out


def shown(path: Path) -> str:
    """How the CLI names a content file: relative to the current folder when inside it."""
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    text = os.path.relpath(absolute, cwd) if absolute.startswith(cwd + os.sep) else str(path)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)  # one problem, one line


# ---- verdicts ---------------------------------------------------------------------------------
def assert_clean_failure(result: Result) -> None:
    """Exit 1, no traceback, every diagnostic line a `path:line:col:` line or a plain summary."""
    assert result.exit_code == 1, f"exit {result.exit_code}, expected 1:\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"crashed with {result.exception!r}:\n{result.output}")
    assert "Traceback" not in result.output, result.output
    for line in result.output.splitlines():
        assert (PROBLEM_LINE.match(line) or line.startswith("error: ") or "nothing was written" in line
                or line.startswith("leak scan failed")), f"not a diagnostic line: {line!r}"


def expect_rejected(result: Result, before: dict[str, str], after: dict[str, str], file: Path | str | None,
                    line: int | None = None, secrets: tuple[str, ...] = (), message: str | None = None) -> None:
    """The case was refused: see the module docstring."""
    assert_clean_failure(result)
    output = result.output
    if file is not None:
        name = shown(Path(file)) if not isinstance(file, str) else file
        where = re.escape(name) + (rf":{line}:\d+: " if line else r":\d+:\d+: ")
        assert re.search(rf"^(?:error: )?{where}", output, re.M), f"{name}:{line or '*'} not named in:\n{output}"
    if message is not None:
        assert message in output, f"{message!r} not in:\n{output}"
    for secret in secrets:
        for piece in _secret_pieces(secret):
            assert piece not in output, f"the output repeats a secret:\n{output}"
    assert after == before, _diff(before, after)


def _secret_pieces(secret: str) -> list[str]:
    """The secret and its distinctive middle: a message must not quote even part of it."""
    body = secret.split("-----")[2] if secret.startswith("-----BEGIN") and secret.count("-----") > 2 else secret
    return [secret] + ([body[6:26]] if len(body) >= 26 else [])


def _diff(before: dict[str, str], after: dict[str, str]) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"the previous output changed: added {added}, removed {removed}, changed {changed}"


BAD_TAGS = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form")
URL_ATTRS = ("href", "src", "action", "formaction", "xlink:href", "srcset", "poster", "data", "background")


def inspect(page: Path) -> tuple[list[str], str]:
    """One page, parsed once: (what in it could run, its visible text)."""
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    found = [f"<{tag.name}>" for tag in soup.find_all(BAD_TAGS)]
    for tag in soup.find_all(True):
        for attr, value in tag.attrs.items():
            values = value if isinstance(value, list) else [value]
            if attr.lower().startswith("on"):
                found.append(f"{attr}= on <{tag.name}>")
            elif attr.lower() in URL_ATTRS:
                for v in values:
                    url = re.sub(r"[\x00-\x20\x7f]+", "", v).lower()
                    if url.startswith(("javascript:", "vbscript:", "data:")):
                        found.append(f"{attr}={v!r} on <{tag.name}>")
            elif attr.lower() == "http-equiv" and str(value).lower() == "refresh":
                found.append("meta refresh")
            elif attr.lower() == "srcdoc":
                found.append(f"srcdoc on <{tag.name}>")
    for hidden in soup(["style", "title"]):
        hidden.decompose()
    return found, soup.get_text(" ")


def active_content(page: Path) -> list[str]:
    """What in one page could run: a list of findings, empty when harmless."""
    return inspect(page)[0]


def assert_harmless(folder: Path, visible: tuple[str, ...] = ()) -> None:
    """No page of folder holds anything that runs; each visible string shows as text."""
    pages = sorted(folder.rglob("*.html"))
    assert pages, f"no pages in {folder}"
    findings, texts = {}, []
    for page in pages:
        found, text = inspect(page)
        texts.append(text)
        if found:
            findings[page.relative_to(folder).as_posix()] = found
    assert not findings, f"active content in the output: {findings}"
    text = re.sub(r"\s+", " ", " ".join(texts))
    for needle in visible:
        squashed = re.sub(r"\s+", " ", needle).strip()
        assert squashed in text, f"{squashed!r} does not show as text"


def output_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def encodings(needle: str) -> set[bytes]:
    """The forms a string takes in the output: as is, HTML-escaped, JSON-escaped."""
    forms = {needle, html.escape(needle), html.escape(needle, quote=False), json.dumps(needle)[1:-1],
             json.dumps(needle, ensure_ascii=False)[1:-1]}
    return {f.encode("utf-8") for f in forms}


def assert_absent(folder: Path, needles: tuple[str, ...] | list[str]) -> None:
    """None of needles, in any form, is in any byte of any output file (HTML, JSON, SVG, CSS)."""
    files = output_bytes(folder)
    assert files, f"no output in {folder}"
    hits = [(name, needle) for name, data in files.items() for needle in needles
            if any(form in data for form in encodings(needle))]
    assert not hits, f"found in the output: {hits}"


def assert_built(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert result.exception is None, repr(result.exception)
    assert "Traceback" not in result.output
