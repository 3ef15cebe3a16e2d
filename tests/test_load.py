"""load: every error of every content file in one run, each as path:line:col: message."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthsite import load as load_mod
from healthsite.problems import ContentError

from .conftest import MINE, source_yaml, write_source


def errors(content_dir) -> list:
    with pytest.raises(ContentError) as info:
        load_mod.load(content_dir)
    return [p for p in info.value.problems if p.severity == "error"]


def at(problems, filename: str) -> list[tuple[int, int, str]]:
    return [(p.line, p.col, p.message) for p in problems if p.path.endswith(filename)]


def test_minimal_fixture_loads(content):
    loaded = load_mod.load(content)
    assert loaded.site.model.profile == "cyspera"
    assert {s.slug for s in loaded.sources} == set(MINE) | {"meta-ads-northwind"}
    tiktok = next(s for s in loaded.sources if s.slug == "tiktok-ads-france")
    assert tiktok.model.technical.enabled is False
    assert tiktok.model.external_accounts[0].ref == "tt_7123456789_fr"


BAD = """\
name: Bad One
platform: tiktok_ads
profile: cyspera
status: okay
colour: red
technical:
  enabled: "yes"
  api_version_review: SOMETIMES
  last_successful_sync: 2026-02-30T10:00:00Z
sync_history:
  - status: completed
    fetched: 10
    processed: 10
  - status: completed
    fetched: "10"
    processed: 10
    failed: 0
    started_at: 2026-01-01T10:00:00+02:00
  - status: completed
    fetched: 1
    processed: 1
    failed: 0
    started_at: 2026-01-01T10:00:00
status: healthy
"""


def test_every_error_of_a_file_with_its_line(content):
    write_source(content, "bad-one", BAD)
    found = at(errors(content), "bad-one.yaml")
    by_line = {line: (col, msg) for line, col, msg in found}
    # bad enum value, with the allowed values
    assert by_line[4][0] == 9
    assert "'okay'" in by_line[4][1] and "'healthy'" in by_line[4][1] and "'disabled'" in by_line[4][1]
    # unknown key, at the key
    assert by_line[5] == (1, "unknown key 'colour'")
    # wrong type
    assert "technical.enabled" in by_line[7][1] and "boolean" in by_line[7][1]
    # bad enum in a nested mapping, with the allowed values
    assert "'SOMETIMES'" in by_line[8][1] and "'NOT_REQUIRED'" in by_line[8][1] and "'OVERDUE'" in by_line[8][1]
    # impossible date
    assert by_line[9][0] == 25 and "date" in by_line[9][1]
    # missing required key: at the mapping that lacks it
    assert by_line[11][1] == "missing required key 'failed'"
    # wrong type: a quoted number
    assert "sync_history.1.fetched" in by_line[15][1]
    # non-UTC date
    assert "UTC" in by_line[18][1]
    # date without a zone
    assert "time zone" in by_line[23][1] or "UTC" in by_line[23][1]
    # duplicate key
    assert by_line[24][1].startswith("duplicate key 'status'")
    assert len(found) == 10, found


def test_missing_required_top_level_keys(content):
    write_source(content, "no-status", "name: X\nplatform: tiktok_ads\nprofile: cyspera\n")
    found = at(errors(content), "no-status.yaml")
    assert found == [(1, 1, "missing required key 'status'")]


def test_errors_of_every_file_in_one_run(content):
    write_source(content, "first", source_yaml(extra="colour: red\n"))
    write_source(content, "second", source_yaml(status="grand"))
    (content / "sources" / "third.yaml").write_text("name: [unclosed\nstatus: x\n", encoding="utf-8")
    problems = errors(content)
    assert at(problems, "first.yaml") and at(problems, "second.yaml") and at(problems, "third.yaml")
    # sorted by file, then line
    keys = [(p.path, p.line, p.col) for p in problems]
    assert keys == sorted(keys)


def test_yaml_syntax_error_line(content):
    (content / "sources" / "syntax.yaml").write_text(
        "name: X\nplatform: tiktok_ads\nstatus: healthy\n  extra: 1\nprofile: cyspera\n", encoding="utf-8")
    found = at(errors(content), "syntax.yaml")
    assert len(found) == 1
    assert found[0][0] == 4 and found[0][2].startswith("YAML syntax error")


@pytest.mark.parametrize("filename", ["Bad_Name.yaml", "-leading.yaml", "has space.yaml", "x" * 65 + ".yaml"])
def test_bad_slug_file_name(content, filename):
    (content / "sources" / filename).write_text(source_yaml(), encoding="utf-8")
    found = [p for p in errors(content) if p.path.endswith(filename)]
    assert len(found) == 1
    assert (found[0].line, found[0].col) == (1, 1)
    assert "not a valid slug" in found[0].message


def test_slug_clash_yaml_and_yml(content):
    write_source(content, "clash", source_yaml(name="Clash A"))
    write_source(content, "clash", source_yaml(name="Clash B"), suffix=".yml")
    problems = errors(content)
    clash = [p for p in problems if "clash" in p.path]
    assert len(clash) == 1
    assert clash[0].path.endswith("clash.yml")
    assert "'clash'" in clash[0].message and "clash.yaml" in clash[0].message


def test_message_format_is_path_line_col_message(content):
    write_source(content, "fmt", source_yaml(extra="colour: red\n"))
    problem = [p for p in errors(content) if p.path.endswith("fmt.yaml")][0]
    assert str(problem) == f"{problem.path}:7:1: unknown key 'colour'"
    assert problem.path.endswith("sources/fmt.yaml")


def test_non_yaml_file_is_a_warning_not_an_error(content):
    (content / "sources" / "README.txt").write_text("not content", encoding="utf-8")
    loaded = load_mod.load(content)
    assert any(w.path.endswith("README.txt") and w.severity == "warning" for w in loaded.warnings)


def test_missing_site_yaml_and_catalog_file(content):
    (content / "site.yaml").unlink()
    (content / "catalog" / "reasons.yaml").unlink()
    problems = errors(content)
    assert any(p.path.endswith("site.yaml") for p in problems)
    assert any(p.path.endswith("reasons.yaml") for p in problems)


def test_strict_types_no_coercion(content):
    write_source(content, "coerce", source_yaml(extra="""
        sync_history:
          - status: completed
            fetched: 1.5
            processed: 1
            failed: -1
        external_accounts:
          - name: A
            ref: tt_123456789_fr
            profile: cyspera
            selected: 1
    """))
    found = at(errors(content), "coerce.yaml")
    lines = {line for line, _, _ in found}
    assert {9, 11, 16} <= lines, found


def test_unknown_nested_key_points_at_the_key(content):
    write_source(content, "nested", source_yaml(extra="""
        sync_history:
          - status: completed
            fetched: 1
            processed: 1
            failed: 0
            fetchd: 2
    """))
    found = at(errors(content), "nested.yaml")
    assert found == [(12, 5, "unknown key 'fetchd'")]
    write_source(content, "nested", source_yaml().replace("  enabled: true\n", "  enabeld: true\n"))
    found = at(errors(content), "nested.yaml")
    assert found == [(6, 3, "unknown key 'enabeld'")]


@pytest.mark.parametrize("written", ["2026-11-20T08:15:00+00:00", "2026-11-20 08:15:00Z", "2026-11-20T08:15:00Z"])
def test_utc_dates_are_accepted(content, written):
    write_source(content, "dated", source_yaml(extra=f"""
        sync_history:
          - status: completed
            fetched: 1
            processed: 1
            failed: 0
            started_at: {written}
    """).replace("  enabled: true\n", f"  enabled: true\n  last_successful_sync: {written}\n"))
    loaded = load_mod.load(content)
    source = next(s for s in loaded.sources if s.slug == "dated")
    when = source.model.technical.last_successful_sync
    assert when.utcoffset().total_seconds() == 0
    assert (when.year, when.month, when.day, when.hour, when.minute) == (2026, 11, 20, 8, 15)


@pytest.mark.parametrize("text, needle", [("- a\n- b\n", "must be a mapping"), ("just text\n", "must be a mapping"),
                                          ("", "empty")])
def test_a_source_that_is_not_a_mapping(content, text, needle):
    (content / "sources" / "odd.yaml").write_text(text, encoding="utf-8")
    found = at(errors(content), "odd.yaml")
    assert len(found) == 1 and found[0][:2] == (1, 1) and needle in found[0][2]


def test_listing_in_slug_order_with_signatures(content):
    for slug in ("b-2", "b", "a-b", "a"):
        write_source(content, slug, source_yaml(name=f"Source {slug}"))
    files, problems, _ = load_mod.list_sources(content)
    assert not problems
    slugs = [f.slug for f in files]
    assert slugs == sorted(slugs) and {"a", "a-b", "b", "b-2"} <= set(slugs)
    assert len(files) == len(slugs)
    stat = (content / "sources" / "a-b.yaml").stat()
    listed = files[slugs.index("a-b")]
    assert (listed.name, listed.signature) == ("a-b.yaml", (stat.st_mtime_ns, stat.st_size))
    assert listed.path == content / "sources" / "a-b.yaml"
    assert files[-1].slug == slugs[-1] and files[-len(files)].slug == slugs[0]
    for outside in (len(files), -len(files) - 1):
        with pytest.raises(IndexError):
            files[outside]
    assert list(files.signatures()) == [(f.slug, *f.signature) for f in files]


def test_a_yml_beside_a_yaml_clashes_whatever_sorts_between_them_by_name(content):
    """By name, "a-b.yaml" sorts between "a.yaml"'s neighbours; by slug it does not."""
    for slug, suffix in (("dup", ".yaml"), ("dup-b", ".yaml"), ("dup", ".yml"), ("dup-0", ".yml")):
        write_source(content, slug, source_yaml(name=f"Source {slug}{suffix}"), suffix=suffix)
    files, problems, _ = load_mod.list_sources(content)
    assert [p.path.rpartition("/")[2] for p in problems] == ["dup.yml"]
    assert {"dup", "dup-b", "dup-0"} <= {f.slug for f in files}
    assert next(f for f in files if f.slug == "dup").name == "dup.yaml"


@pytest.mark.parametrize("at_once", [4096, 7])
@pytest.mark.parametrize("kind", ["github_ghp", "stripe_live", "slack_bot", "aws_key"])
def test_a_token_shaped_file_name_is_refused_among_many(content, kind, at_once, monkeypatch):
    """A slug ends up in page names and links: a file named like a token is an error, found in
    a listing of many files (they are first looked over together, then one by one), and the
    message never repeats the token; at_once 7: in a later look than the first."""
    from .hostile.helpers import tokens
    monkeypatch.setattr(load_mod, "_NAMES_AT_ONCE", at_once)
    token = tokens(kind)[kind]
    for i in range(30):
        write_source(content, f"plain-{i:02d}", source_yaml(name=f"Plain {i}"))
    (content / "sources" / f"{token}.yaml").write_text(source_yaml(), encoding="utf-8")
    (content / "sources" / f"x-{token}.yaml").write_text(source_yaml(), encoding="utf-8")  # not at a word start
    files, problems, _ = load_mod.list_sources(content)
    named = [p for p in problems if "looks like a" in p.message]
    assert len(named) == 1 and "rename the file" in named[0].message
    assert token not in str(named[0])
    assert {f"plain-{i:02d}" for i in range(30)} <= {files[i].slug for i in range(len(files))}


def _listing(root):
    files, problems, warnings = load_mod.list_sources(root)
    return ([(f.name, f.signature) for f in files], [str(p) for p in problems], [str(w) for w in warnings])


_NAME = st.builds(str.__add__, st.text("ab-0.é_", min_size=0, max_size=6),
                  st.sampled_from([".yaml", ".yml", ".YAML", ".txt", "", ".yaml.bak"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.sets(_NAME.filter(lambda n: n not in ("", ".", "..")), max_size=24), at_once=st.integers(1, 5))
def test_listing_in_runs_lists_as_one_sort_would(tmp_path_factory, names, at_once):
    """Listing sorts a few names at a time and merges the runs: the same files, problems and
    warnings, in the same order, as one sort of every name; and that order is by slug, then name
    (each "." sorting before any character)."""
    root = tmp_path_factory.mktemp("listing")
    (root / "sources").mkdir()
    for name in names:
        (root / "sources" / name).write_bytes(b"")
    whole = _listing(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(load_mod, "_NAMES_AT_ONCE", at_once)
        assert _listing(root) == whole
    listed = [name for name, _ in whole[0]]
    assert listed == sorted(listed, key=lambda n: n.replace(".", "\0"))
    slugs = [name.rpartition(".")[0] for name in listed]
    assert set(listed) <= names and len(set(slugs)) == len(slugs)
    for name in names - set(listed):  # every name left out is a problem or a warning, named
        assert any(name in said for said in whole[1] + whole[2]) or name.startswith(".")


def test_a_name_that_is_not_utf8_is_listed_in_its_place_in_runs(content, monkeypatch):
    """A file name of bytes that are not UTF-8 goes through a run's bytes and back unchanged."""
    folder = os.fsencode(content / "sources")
    for name in (b"caf\xe9.yaml", b"caf.yaml", b"cafz.txt", b"\xff.yaml"):
        os.close(os.open(folder + b"/" + name, os.O_CREAT | os.O_WRONLY))
    whole = _listing(content)
    monkeypatch.setattr(load_mod, "_NAMES_AT_ONCE", 1)
    assert _listing(content) == whole
    assert "caf.yaml" in [name for name, _ in whole[0]]
    slugs = [said for said in whole[1] if "not a valid slug" in said]
    assert len(slugs) == 2 and "caf\\udce9" in slugs[0] and "\\udcff" in slugs[1]
