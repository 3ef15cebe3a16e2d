"""Property-based tests (hypothesis): thousands of generated sources, valid and not.

Every build either succeeds or fails cleanly (exit 1, only `path:line:col:` diagnostics, never a
traceback, nothing written), and when it succeeds nothing secret-shaped, no raw ref, nothing of
another profile and nothing that runs is in any output byte, and a second build is byte-identical.

Reproducible and fast: derandomize=True (a fixed seed, the same examples on every run), no example
database, and builds run in-process through the command line (click's CliRunner) with one Jinja
environment per templates folder, as a long-running process would keep it.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from healthsite import secrets
from healthsite.cli import cli
from healthsite.models import STATUSES

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "content"
PROFILE = yaml.safe_load((SHIPPED / "site.yaml").read_text(encoding="utf-8"))["profile"]
CATALOG = {name: yaml.safe_load((SHIPPED / "catalog" / f"{name}.yaml").read_text(encoding="utf-8"))
           for name in ("platforms", "actions", "reasons", "profiles")}
OTHER = next(p["id"] for p in CATALOG["profiles"] if p["id"] != PROFILE)
PLATFORMS = {p["id"]: p["ref_prefix"] for p in CATALOG["platforms"]}
ACTIONS = [a["id"] for a in CATALOG["actions"]]
REASONS = [r["code"] for r in CATALOG["reasons"]]
PROBLEM_LINE = re.compile(r"^.+:\d+:\d+: .*$")
FOREIGN_MARK = "ZqForeignMark"
try:  # lxml when present: the same verdicts as html.parser on these pages, several times faster
    import lxml  # noqa: F401
    PARSER = "lxml"
except ImportError:  # pragma: no cover
    PARSER = "html.parser"  # in every name of another profile; never in generated text of ours

SETTINGS = dict(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much, HealthCheck.large_base_example])


@pytest.fixture(scope="module")
def scratch():
    folder = Path(tempfile.mkdtemp(prefix="healthsite-properties-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# ---- fake secrets, assembled from pieces (no token-shaped literal in the repository) ----------
def _tok(*parts: str) -> str:
    return "".join(parts)


FAKE_TOKENS = [
    _tok("shp", "at_", "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"),
    _tok("shp", "ss_", "ffeeddccbbaa99887766554433221100"),
    _tok("gh", "p_", "Zx9Lm2Kp8Rt4Vn6Yb1Hc5Jd0FgQ7w3A1b2C3d"),
    _tok("github", "_pat_", "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
    _tok("sk", "_live_", "51Habcdefghijklmnopqrstu"),
    _tok("AK", "IA", "Z7QWERTYUIOPASDF"),
    _tok("AI", "za", "SyA1234567890abcdefghijklmnopqrstu"),
    _tok("xo", "xb-", "1234567890-abcdefghij"),
    _tok("ey", "JhbGciOiJIUzI1NiJ9.", "ey", "JzdWIiOiIxMjM0NTY3ODkwIn0.", "dGVzdHNpZ25hdHVyZQ"),
    _tok("-----BEGIN ", "PRIVATE KEY-----"),
]

# ---- strategies -------------------------------------------------------------------------------
# Built once, at import: strategies made inside a draw are validated again on every example, and
# that, not the builds, was most of the run time.
HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))", "[x](&#106;avascript:alert(1))", "[x](data:text/html,<script>alert(1)</script>)",
    "[x](vbscript:msgbox(1))", "<iframe src=//evil.example></iframe>", "<svg onload=alert(1)>",
    "<a href=\"java&#x09;script:alert(1)\">x</a>", "{{ 7*7 }}", "{% raw %}", "{# c #}", "<!-- x -->", "•••",
    "tt_•••_fr", "&amp;&lt;&#0;", "\u202e\u200b", "*", "**", "`", "\\", "|a|b|\n|-|-|", "> quote", "- item",
    "<style>*{}</style>", "<form action=x><input></form>", "<base href=//evil.example/>",
]
plain_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=0, max_size=40)
text = st.one_of(plain_text, st.sampled_from(HOSTILE),
                 st.lists(st.one_of(plain_text, st.sampled_from(HOSTILE)), min_size=2, max_size=4).map(" ".join))
nonempty = text.filter(lambda t: t.strip() != "").map(lambda t: t[:200])
good_when = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
bad_when = st.sampled_from(["2026-02-30T00:00:00Z", "2026-11-20T08:15:00", "2026-11-20T08:15:00+02:00", "yesterday",
                            "2026-13-01T00:00:00Z"])
good_count = st.integers(0, 10_000)
bad_count = st.integers(-3, 10**13)
# A ref: platform-shaped ("{P}" is the platform's prefix, put in once the platform is known) or any text.
ref = st.one_of(st.builds(lambda digits, tail: f"{{P}}{digits}_{tail}", st.integers(10**5, 10**15),
                          st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=4)),
                st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30))


ACTION_STATES = [{"state": "allowed"}, {"state": "hidden"}, {"state": "blocked", "reason": "Blocked for review."}]


def source_strategy(ok: bool):
    """A source: only good values when ok, good or bad ones otherwise."""
    def pick(good, bad):
        return good if ok else st.one_of(good, bad)

    def one_of(values, bad):
        return st.sampled_from(list(values) + ([] if ok else list(bad)))

    when = pick(good_when, bad_when)
    count = pick(good_count, bad_count)
    account = st.fixed_dictionaries(
        {"name": nonempty, "ref": ref, "profile": one_of([PROFILE, PROFILE, OTHER], ["ghost_profile"]),
         "selected": st.booleans()},
        optional={"mapping_status": one_of(["confirmed", "unconfirmed", "partial"], ["bogus"])})
    run = st.fixed_dictionaries(
        {"status": st.sampled_from(["completed", "partial", "failed", "running", "queued", "cancelled"]),
         "fetched": count, "processed": count, "failed": count},
        optional={"error": nonempty, "started_at": when,
                  "duration_s": pick(st.floats(0, 10**6), st.floats(allow_nan=True, allow_infinity=True))})
    return st.fixed_dictionaries(
        {"name": nonempty,
         "platform": one_of(sorted(PLATFORMS), ["unknown_platform"]),
         "profile": one_of([PROFILE, PROFILE, PROFILE, OTHER], ["ghost_profile"]),
         "status": one_of(STATUSES, ["bogus"]),
         "reasons": st.lists(st.one_of(one_of(REASONS, ["no_such_reason"]),
                                       st.fixed_dictionaries({"code": st.sampled_from(REASONS), "message": nonempty})),
                             max_size=3),
         "technical": st.fixed_dictionaries(
             {"enabled": st.booleans(),
              "api_version_review": st.sampled_from(["NOT_REQUIRED", "REQUIRED", "OVERDUE"]),
              "mapping_status": st.sampled_from(["confirmed", "unconfirmed", "partial"])},
             optional={"last_successful_sync": when}),
         "data_quality": st.lists(st.fixed_dictionaries(
             {"severity": st.sampled_from(["INFO", "WARNING", "ERROR", "CRITICAL"]), "code": st.sampled_from(REASONS)},
             optional={"message": nonempty}), max_size=2),
         "sync_history": st.lists(run, max_size=3),
         "external_accounts": st.lists(account, max_size=3)},
        optional={"context": nonempty, "notes": text,
                  "actions": st.lists(st.tuples(st.sampled_from(ACTIONS), st.sampled_from(ACTION_STATES)), max_size=3,
                                      unique_by=lambda pair: pair[0]).map(
                      lambda pairs: [{"id": i, **state} for i, state in pairs])})


GOOD_SOURCE, ANY_SOURCE = source_strategy(True), source_strategy(False)
# How a broken source is broken on top of its bad values: (kind, key or value).
BREAKAGE = st.one_of(
    st.just(("none", None)),
    st.tuples(st.just("wrong_type"), st.sampled_from([42, True, None, ["x"], {"a": 1}])),
    st.tuples(st.just("unknown_key"), st.sampled_from(["colour", "Status", "notes_", "x-y"])),
    st.tuples(st.just("missing_key"), st.sampled_from(["name", "platform", "profile", "status"])),
    st.tuples(st.just("token"), st.sampled_from(FAKE_TOKENS)),
)


@st.composite
def content(draw, min_sources: int = 1, max_sources: int = 5):
    """slug -> source. One source in ten may be broken; names of another profile carry FOREIGN_MARK."""
    n = draw(st.integers(min_sources, max_sources))
    slugs = draw(st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True), min_size=n, max_size=n,
                          unique=True))
    out = {}
    for i, slug in enumerate(slugs):
        ok = draw(st.integers(0, 9)) > 0
        data = draw(GOOD_SOURCE if ok else ANY_SOURCE)
        prefix = PLATFORMS.get(data["platform"], "xx_")
        if data["profile"] != PROFILE:
            data["name"] = f"{FOREIGN_MARK}Src{i} {data['name']}"[:200]
        for j, acct in enumerate(data["external_accounts"]):
            acct["ref"] = acct["ref"].replace("{P}", prefix)
            if acct["profile"] != PROFILE:
                acct["name"] = f"{FOREIGN_MARK}Acct{i}x{j} {acct['name']}"
        if not ok:
            kind, value = draw(BREAKAGE)
            if kind == "wrong_type":
                data[draw(st.sampled_from(sorted(data)))] = value
            elif kind == "unknown_key":
                data[value] = "surplus"
            elif kind == "missing_key":
                data.pop(value)
            elif kind == "token":
                if data["external_accounts"] and draw(st.booleans()):
                    data["external_accounts"][0]["ref"] = value
                else:
                    data[draw(st.sampled_from(["name", "context", "notes"]))] = f"pasted {value} here"
        out[slug] = data
    return out


# ---- building and judging ---------------------------------------------------------------------
def write_content(root: Path, sources: dict[str, dict]) -> Path:
    folder = root / "content"
    (folder / "sources").mkdir(parents=True)
    shutil.copyfile(SHIPPED / "site.yaml", folder / "site.yaml")
    shutil.copytree(SHIPPED / "catalog", folder / "catalog")
    for slug, data in sources.items():
        (folder / "sources" / f"{slug}.yaml").write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000), encoding="utf-8")
    return folder


def build(folder: Path, out: Path, command: str = "build"):
    args = [command, "--content", str(folder)] + (["--out", str(out)] if command == "build" else [])
    return CliRunner().invoke(cli, args)


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_clean_failure(result, planted: list[str]) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert any(PROBLEM_LINE.match(line) or line.startswith("error: ") for line in lines), result.output
    for line in lines:
        assert (PROBLEM_LINE.match(line) or line.startswith("error: ") or "nothing was written" in line
                or line.startswith("leak scan failed")), f"not a diagnostic line: {line!r}"
    for token in planted:
        assert token not in result.output, "a message repeats a secret"


def forms(needle: str) -> set[bytes]:
    return {f.encode("utf-8") for f in (needle, html.escape(needle), html.escape(needle, quote=False),
                                        json.dumps(needle, ensure_ascii=False)[1:-1])}


def assert_safe_output(out: Path, sources: dict[str, dict]) -> None:
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    raw_refs = {a["ref"] for s in sources.values() for a in s.get("external_accounts", ())
                if isinstance(a, dict) and isinstance(a.get("ref"), str) and len(a["ref"]) >= 8}
    for name, data in files.items():
        assert FOREIGN_MARK.encode() not in data, f"{name}: something of another profile"
        text = data.decode("utf-8", errors="replace")
        assert not secrets.find_tokens(text), f"{name}: something token-shaped"
        for token in FAKE_TOKENS:
            assert token.encode() not in data, f"{name}: a planted token"
        for ref in raw_refs:
            assert not any(form in data for form in forms(ref)), f"{name}: a raw ref"
        if name.endswith(".html"):
            soup = BeautifulSoup(text, PARSER)
            assert not soup.find_all(["script", "iframe", "object", "embed", "frame", "base", "form"]), name
            for tag in soup.find_all(True):
                for attr, value in tag.attrs.items():
                    assert not attr.lower().startswith("on"), f"{name}: an event handler"
                    if attr in ("href", "src", "action"):
                        url = re.sub(r"[\x00-\x20\x7f]+", "", str(value)).lower()
                        assert not url.startswith(("javascript:", "vbscript:", "data:")), f"{name}: {value!r}"


def planted_tokens(sources: dict[str, dict]) -> list[str]:
    dumped = json.dumps(sources, ensure_ascii=False)
    return [t for t in FAKE_TOKENS if t in dumped]


# ---- the properties ---------------------------------------------------------------------------
@settings(max_examples=100, **SETTINGS)
@given(sources=content(min_sources=2, max_sources=6))
def test_any_content_builds_safely_or_fails_cleanly(scratch, sources):
    root = Path(tempfile.mkdtemp(dir=scratch))
    try:
        folder = write_content(root, sources)
        out = root / "public" / "site"
        result = build(folder, out)
        planted = planted_tokens(sources)
        event("built" if result.exit_code == 0 else "refused")
        if result.exit_code == 0:
            assert not planted, "a pasted token was built"
            assert_safe_output(out, sources)
            again = root / "again" / "site"
            assert build(folder, again).exit_code == 0
            assert tree(again) == tree(out), "the same input built different bytes"
        else:
            assert_clean_failure(result, planted)
            assert not out.exists(), "a failed build wrote its output"
            assert not (root / "public").exists() or os.listdir(root / "public") == [], "a failed build left files"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@settings(max_examples=250, **SETTINGS)
@given(sources=content(min_sources=4, max_sources=10))
def test_check_of_any_content_is_clean(scratch, sources):
    """`check` (load, resolve, lint; no render) over many more sources: exit 0 or a clean exit 1."""
    root = Path(tempfile.mkdtemp(dir=scratch))
    try:
        folder = write_content(root, sources)
        result = build(folder, root / "unused", command="check")
        planted = planted_tokens(sources)
        if result.exit_code == 0:
            assert not planted, "check passed a pasted token"
            assert "Traceback" not in result.output
        else:
            assert_clean_failure(result, planted)
        assert sorted(os.listdir(root)) == ["content"], "check wrote something"
    finally:
        shutil.rmtree(root, ignore_errors=True)


VALID = yaml.safe_dump({"name": "Fuzzed Source", "platform": "tiktok_ads", "profile": PROFILE, "status": "degraded",
                        "reasons": ["auth_expired"], "technical": {"enabled": True},
                        "sync_history": [{"status": "completed", "fetched": 10, "processed": 10, "failed": 0}],
                        "external_accounts": [{"name": "Fuzz Account", "ref": "tt_7123456789_fr", "profile": PROFILE,
                                               "selected": True}], "notes": "Plain."}, sort_keys=False)


@settings(max_examples=200, **SETTINGS)
@given(cuts=st.lists(st.tuples(st.integers(0, len(VALID)), st.integers(0, 8),
                               st.one_of(st.binary(max_size=6),
                                         st.sampled_from([b"&a ", b"*a", b"!!python/object/apply:os.system [x]\n", b"<<: ",
                                                          b"\t", b"\xff", b"\x00", b": ", b"- ", b"{", b"[", b"'", b'"',
                                                          b"\n  ", b"---\n", b"? ", b"%YAML 1.1\n", b"\xef\xbb\xbf",
                                                          b"!include ", b"!!binary ", b"~"]))),
                     min_size=1, max_size=4))
def test_mangled_yaml_bytes_never_crash(scratch, cuts):
    """A valid file with random bytes cut out and pasted in: every result is clean."""
    data = VALID.encode("utf-8")
    for at, drop, insert in cuts:
        at = min(at, len(data))
        data = data[:at] + insert + data[at + drop:]
    root = Path(tempfile.mkdtemp(dir=scratch))
    try:
        folder = write_content(root, {})
        (folder / "sources" / "fuzzed.yaml").write_bytes(data)
        out = root / "public" / "site"
        result = build(folder, out)
        if result.exit_code == 0:
            assert_safe_output(out, {"fuzzed": {"external_accounts": [{"ref": "tt_7123456789_fr"}]}})
        else:
            assert_clean_failure(result, [])
            assert "fuzzed.yaml:" in result.output or "leak scan" in result.output, result.output
            assert not out.exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)
