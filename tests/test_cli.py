"""The command line: build, check, new, serve; exit 0 ok, 1 content errors, 2 usage."""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from .conftest import MINE, REPO, problems_for, problems_in, run_cli, source_yaml, tree_hash, write_source

SUMMARY = re.compile(r"^built (\d+) sources, (\d+) pages \((\d+) files\) for profile (\S+) in [\d.]+ s -> (.+)$")


@pytest.mark.parametrize("command", [[], ["build"], ["check"], ["new"], ["serve"]])
def test_help(command):
    for flag in ("--help", "-h"):
        result = run_cli(*command, flag)
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_every_command_takes_content():
    for command in ("build", "check", "new", "serve"):
        assert "--content" in run_cli(command, "--help").output


def test_build_prints_a_one_line_summary(tmp_path, content):
    out = tmp_path / "site"
    result = run_cli("build", "--content", content, "--out", out)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    m = SUMMARY.match(lines[0])
    assert m, lines[0]
    assert int(m[1]) == len(MINE)
    assert m[4] == "cyspera"
    assert str(out) in m[5]
    assert (out / "index.html").is_file()


def test_build_other_profile(tmp_path, content):
    out = tmp_path / "site"
    result = run_cli("build", "--content", content, "--out", out, "--profile", "northwind")
    assert result.exit_code == 0, result.output
    assert SUMMARY.match(result.stdout.strip().splitlines()[-1])[4] == "northwind"
    assert (out / "sources" / "meta-ads-northwind.html").is_file()
    assert not (out / "sources" / "shopify-eu.html").exists()


@pytest.mark.parametrize("args", [["build", "--no-such-option"], ["frobnicate"], ["check", "--strict=maybe"],
                                  ["new"], ["new", "x"]])
def test_usage_errors_exit_2(args, content):
    result = run_cli(*args[:1], "--content", content, *args[1:]) if args[0] in ("build", "check", "new") \
        else run_cli(*args)
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize("command", ["build", "check"])
def test_unknown_profile_exits_2(tmp_path, content, command):
    args = [command, "--content", content, "--profile", "nobody"]
    if command == "build":
        args += ["--out", tmp_path / "site"]
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    assert "nobody" in result.output
    assert not (tmp_path / "site").exists()


def test_check_ok_with_warnings_exits_0(content):
    result = run_cli("check", "--content", content)
    assert result.exit_code == 0, result.output
    warnings = [p for p in problems_in(result.stderr) if p["message"].startswith("warning: ")]
    assert warnings, result.stderr
    assert any(p["path"].endswith("tiktok-ads-france.yaml") and "no last successful sync" in p["message"]
               for p in warnings)
    assert result.stdout.startswith("ok:")


def test_check_strict_turns_warnings_into_errors(content):
    result = run_cli("check", "--content", content, "--strict")
    assert result.exit_code == 1
    found = problems_for(result.stderr, "tiktok-ads-france.yaml")
    assert found and not any(p["message"].startswith("warning:") for p in found)


def test_build_strict_fails_and_writes_nothing(tmp_path, content):
    result = run_cli("build", "--content", content, "--out", tmp_path / "site", "--strict")
    assert result.exit_code == 1
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("slug, text, needle", [
    ("healthy-failed", source_yaml(status="healthy", extra="""
        sync_history:
          - status: failed
            fetched: 3
            processed: 0
            failed: 3
            error: boom
    """), "last sync is failed"),
    ("overcount", source_yaml(extra="""
        sync_history:
          - status: partial
            fetched: 3
            processed: 3
            failed: 1
    """), "more than fetched"),
])
def test_lint_warnings_from_check(content, slug, text, needle):
    write_source(content, slug, text)
    result = run_cli("check", "--content", content)
    assert result.exit_code == 0, result.output
    found = problems_for(result.stderr, f"{slug}.yaml")
    assert any(p["message"].startswith("warning: ") and needle in p["message"] for p in found), result.stderr
    strict = run_cli("check", "--content", content, "--strict")
    assert strict.exit_code == 1
    assert any(needle in p["message"] for p in problems_for(strict.stderr, f"{slug}.yaml"))


def test_all_errors_of_all_files_with_lines(tmp_path, content):
    write_source(content, "alpha", source_yaml(extra="colour: red\n"))
    write_source(content, "beta", source_yaml(status="grand", extra="technical_x: 1\n"))
    write_source(content, "gamma", "name: G\nplatform: tiktok_ads\nname: H\nprofile: cyspera\nstatus: pending\n")
    out = tmp_path / "site"
    result = run_cli("build", "--content", content, "--out", out)
    assert result.exit_code == 1
    assert [(p["line"], p["message"]) for p in problems_for(result.stderr, "alpha.yaml")] == \
        [(7, "unknown key 'colour'")]
    beta = problems_for(result.stderr, "beta.yaml")
    assert {p["line"] for p in beta} == {4, 7}
    assert any("'grand'" in p["message"] and "'healthy'" in p["message"] for p in beta)
    gamma = problems_for(result.stderr, "gamma.yaml")
    assert [(p["line"], p["col"]) for p in gamma] == [(3, 1)]
    assert "duplicate key 'name'" in gamma[0]["message"]
    assert not out.exists()
    assert "nothing was written" in result.stderr


def test_content_error_keeps_the_previous_output(tmp_path, content):
    out = tmp_path / "site"
    assert run_cli("build", "--content", content, "--out", out).exit_code == 0
    before = tree_hash(out)
    write_source(content, "bad", source_yaml(platform="myspace"))
    result = run_cli("build", "--content", content, "--out", out)
    assert result.exit_code == 1
    found = problems_for(result.stderr, "bad.yaml")
    assert [(p["line"], p["col"]) for p in found] == [(2, 11)]
    assert tree_hash(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "site"]


def test_secret_error_output_never_holds_the_value(tmp_path, content):
    token = "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    write_source(content, "leaky", source_yaml(extra=f"notes: {token}\npassword: hunter2hunter2\n"))
    result = run_cli("build", "--content", content, "--out", tmp_path / "site")
    assert result.exit_code == 1
    found = problems_for(result.stderr, "leaky.yaml")
    assert {p["line"] for p in found} >= {7, 8}
    assert token not in result.output and "hunter2hunter2" not in result.output


def test_no_traceback_on_errors(tmp_path, content):
    (content / "sources" / "broken.yaml").write_text("name: [\n", encoding="utf-8")
    result = run_cli("check", "--content", content)
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_missing_content_folder_is_an_error(tmp_path):
    result = run_cli("check", "--content", tmp_path / "nowhere")
    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.output


# ---- new --------------------------------------------------------------------------------------
def test_new_writes_a_source_that_builds(tmp_path, content):
    result = run_cli("new", "--content", content, "brand-new-shop", "--platform", "shopify")
    assert result.exit_code == 0, result.output
    path = content / "sources" / "brand-new-shop.yaml"
    assert path.is_file()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["platform"] == "shopify" and data["profile"] == "cyspera"
    check = run_cli("check", "--content", content)
    assert check.exit_code == 0, check.output
    assert not problems_for(check.stderr, "brand-new-shop.yaml"), check.stderr
    out = tmp_path / "site"
    built = run_cli("build", "--content", content, "--out", out)
    assert built.exit_code == 0, built.output
    assert (out / "sources" / "brand-new-shop.html").is_file()
    ref = data["external_accounts"][0]["ref"]
    for file in out.rglob("*"):
        if file.is_file():
            assert ref.encode() not in file.read_bytes()


def test_new_with_name_and_profile(content):
    result = run_cli("new", "--content", content, "nw-ga4", "--platform", "ga4", "--name", 'Odd "Name": #1',
                     "--profile", "northwind")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((content / "sources" / "nw-ga4.yaml").read_text(encoding="utf-8"))
    assert data["name"] == 'Odd "Name": #1' and data["profile"] == "northwind"
    assert run_cli("check", "--content", content).exit_code == 0


def test_new_refuses_to_overwrite(content):
    path = content / "sources" / "shopify-eu.yaml"
    before = path.read_bytes()
    result = run_cli("new", "--content", content, "shopify-eu", "--platform", "shopify")
    assert result.exit_code != 0
    assert path.read_bytes() == before
    # nor a .yml next to an existing .yaml
    result = run_cli("new", "--content", content, "ga4-pending", "--platform", "ga4")
    assert result.exit_code != 0
    assert not (content / "sources" / "ga4-pending.yml").exists()


@pytest.mark.parametrize("args", [["Bad_Slug", "--platform", "shopify"], ["../escape", "--platform", "shopify"],
                                  ["ok-slug", "--platform", "myspace"], ["ok-slug", "--platform", "shopify",
                                                                          "--profile", "nobody"]])
def test_new_rejects_bad_input_with_exit_2(content, args):
    before = sorted(p.name for p in (content / "sources").iterdir())
    result = run_cli("new", "--content", content, *args)
    assert result.exit_code == 2, result.output
    assert sorted(p.name for p in (content / "sources").iterdir()) == before
    assert not (content.parent / "escape.yaml").exists()


# ---- entry points -----------------------------------------------------------------------------
def test_build_py_as_a_subprocess(tmp_path, content):
    out = tmp_path / "site"
    proc = subprocess.run([sys.executable, "build.py", "build", "--content", str(content), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert SUMMARY.match(proc.stdout.strip().splitlines()[-1])
    assert (out / "sources" / "shopify-eu.html").is_file()
    bad = subprocess.run([sys.executable, "build.py", "build", "--bogus"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2
    helped = subprocess.run([sys.executable, "build.py", "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert helped.returncode == 0 and "build" in helped.stdout


def test_build_py_from_another_folder(tmp_path, content):
    proc = subprocess.run([sys.executable, str(REPO / "build.py"), "check", "--content", str(content)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_console_script_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    scripts = project.get("scripts", {})
    assert scripts, "no [project.scripts] in pyproject.toml"
    targets = [value for value in scripts.values() if value.startswith("healthsite.cli:")]
    assert targets, scripts
    module, _, attr = targets[0].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
