"""The build engine: incremental output equals cold output, byte for byte, after any sequence of
edits, additions, deletions, catalog, site and template changes; the cache and the journal."""
from __future__ import annotations

import json
import os
import tempfile
import time
import random
import re
import shutil
import sys
from pathlib import Path

import pytest

from healthsite import engine, pipeline, verify
from healthsite.store import Store
from healthsite.problems import ContentError, OutputError

from .conftest import FOREIGN_SOURCE, REPO, TEMPLATES, build, copy_content, MINIMAL, cli, CliRunner

sys.path.insert(0, str(REPO / "bench"))
import generate  # noqa: E402  (the benchmark's generator of valid, varied sources)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dirs(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_dir()}


def assert_same_as_cold(content: Path, out: Path, tmp: Path, **kwargs) -> None:
    cold = tmp / "cold"
    shutil.rmtree(cold, ignore_errors=True)
    build(content, cold, **kwargs)
    got, want = tree(out), tree(cold)
    assert sorted(got) == sorted(want), f"files differ: extra {set(got) - set(want)}, missing {set(want) - set(got)}"
    assert [p for p in want if got[p] != want[p]] == []
    assert dirs(out) == dirs(cold)  # no empty folder left behind by a deletion


@pytest.fixture
def bench_content(tmp_path: Path) -> Path:
    return generate.write_content(tmp_path / "content", 40)


def test_no_change_rebuild_writes_nothing(bench_content, tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    first = build(bench_content, out, cache_dir=cache)
    assert first.mode == "cold" and first.rendered == 40
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = build(bench_content, out, cache_dir=cache)
    assert (again.mode, again.rendered, again.written) == ("unchanged", 0, 0)
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_one_edit_rerenders_one_source_and_equals_a_cold_build(bench_content, tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    path = bench_content / "sources" / "bench-000007.yaml"
    path.write_text(path.read_text().replace("Synthetic source", "Edited source"), encoding="utf-8")
    result = build(bench_content, out, cache_dir=cache)
    assert result.mode == "incremental" and result.rendered == 1
    assert "Edited source" in (out / "sources" / "bench-000007.html").read_text()
    assert_same_as_cold(bench_content, out, tmp_path)


def test_a_no_change_rebuild_makes_no_automaton_of_the_canaries(bench_content, tmp_path, monkeypatch):
    from healthsite import verify
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    monkeypatch.setattr(verify, "_SCANNER", None)
    assert build(bench_content, out, cache_dir=cache).mode == "unchanged"
    assert verify._SCANNER is None  # nothing to scan: 230,000 canaries at 100,000 sources are not read


def test_a_warm_process_makes_the_scanner_of_foreign_names_once(bench_content, tmp_path, monkeypatch):
    """serve checks each edit of a shown text against every foreign name: the Scanner of them is
    made once, and again only when they change."""
    from healthsite import verify
    out = tmp_path / "site"
    build(bench_content, out, cache_dir=engine.MEMORY)
    made = []
    from_lines = verify.Scanner.from_lines.__func__
    monkeypatch.setattr(verify.Scanner, "from_lines", classmethod(lambda cls, lines: made.append(1) or from_lines(cls, lines)))
    path = bench_content / "sources" / "bench-000002.yaml"
    for context in ("Edited once.", "Edited twice."):
        path.write_text(path.read_text().replace("context: ", f"context: {context} ", 1), encoding="utf-8")
        assert build(bench_content, out, cache_dir=engine.MEMORY).rendered == 1
    assert made == []
    foreign = bench_content / "sources" / "bench-000009.yaml"  # northwind's: its name is a foreign one
    foreign.write_text(foreign.read_text().replace("name: ", "name: Renamed ", 1), encoding="utf-8")
    build(bench_content, out, cache_dir=engine.MEMORY)
    assert made  # the names changed: made again
    assert_same_as_cold(bench_content, out, tmp_path)


def test_with_many_canaries_a_rebuild_scans_in_a_worker_of_its_own(bench_content, tmp_path, monkeypatch):
    """A one-off rebuild scanning a few files does not make the automaton of many canaries in
    its own process (the largest one): one worker does, and finds what the scan here finds."""
    from healthsite import resolve, verify
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    monkeypatch.setattr(engine, "FRESH_FROM", 1)  # the 40 sources' canaries count as many
    monkeypatch.setattr(verify, "_SCANNER", None)
    monkeypatch.setattr(resolve, "mask_ref", lambda ref, prefix: ref)  # a raw ref on the page
    path = bench_content / "sources" / "bench-000007.yaml"
    path.write_text(path.read_text().replace("Synthetic source", "Edited source"), encoding="utf-8")
    with pytest.raises(pipeline.LeakError) as caught:
        build(bench_content, out, cache_dir=cache)
    assert {leak.file for leak in caught.value.leaks} >= {"sources/bench-000007.html"}
    assert verify._SCANNER is None  # made in the worker, not here
    monkeypatch.setattr(engine, "FRESH_FROM", 10**9)  # the same rebuild, scanned here
    with pytest.raises(pipeline.LeakError) as here:
        build(bench_content, out, cache_dir=cache)
    assert here.value.leaks == caught.value.leaks and verify._SCANNER is not None


def test_random_sequences_of_changes_equal_cold_builds(bench_content, tmp_path):
    """Edits, additions, deletions (a deleted source's pages disappear), status changes that move
    a source between filter pages, catalog, site and template changes, in a seeded random order."""
    rng = random.Random(20261125)
    out, cache = tmp_path / "site", tmp_path / "cache"
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    build(bench_content, out, cache_dir=cache, templates=templates)
    sources = bench_content / "sources"
    next_id = 1000

    def edit():
        path = rng.choice(sorted(sources.glob("*.yaml")))
        text = path.read_text()
        for status in generate.STATUSES:  # a status change moves it between filter pages
            if f"status: {status}\n" in text and rng.random() < 0.5:
                new = rng.choice([s for s in ("healthy", "disabled") if s != status])
                text = text.replace(f"status: {status}\n", f"status: {new}\n", 1)
                break
        path.write_text(text.replace("(preview)", "(preview, edited)"), encoding="utf-8")

    def add():
        nonlocal next_id
        doc = generate.source(next_id)
        (sources / f"bench-{next_id:06d}.yaml").write_text(generate.dump(doc), encoding="utf-8")
        next_id += 1

    def delete():
        victims = sorted(sources.glob("*.yaml"))
        if len(victims) > 5:
            victim = rng.choice(victims)
            slug = victim.stem
            victim.unlink()
            return slug

    def catalog():
        labels = bench_content / "catalog" / "labels.yaml"
        labels.write_text(labels.read_text().replace("All sources", "Every source", 1), encoding="utf-8")

    def template():
        page = templates / "source.html"
        page.write_text(page.read_text().replace("</section>", "</section>\n", 1), encoding="utf-8")

    def site():
        path = bench_content / "site.yaml"
        path.write_text(path.read_text().replace("title: Source Health Preview", "title: Source Health Review"),
                        encoding="utf-8")

    steps = [edit] * 6 + [add] * 3 + [delete] * 3 + [catalog, template, site]
    rng.shuffle(steps)
    for step in steps:
        gone = step()
        build(bench_content, out, cache_dir=cache, templates=templates)
        if gone:
            assert not (out / "sources" / f"{gone}.html").exists()
            assert not (out / "badges" / f"{gone}.svg").exists()
        assert_same_as_cold(bench_content, out, tmp_path, templates=templates)


@pytest.mark.parametrize("cache_kind", ["disk", "serve"])
def test_random_changes_to_what_sources_say_equal_cold_builds(bench_content, tmp_path, cache_kind):
    """Changes to what a source says, each of them rebuilt and held to a cold build (a build
    that fails must fail as a cold one does, and leave the output as it was): renames that move
    its row, moves to the other profile and back, new refs and accounts, a foreign name shown on
    a page (no leak), a foreign ref pasted into one (a leak, then taken out), runs added or
    dropped (its history page comes and goes), notes, platforms, a file broken then mended, a
    .yml for a .yaml. With the store on disk, and kept in the process as serve keeps it."""
    import yaml
    rng = random.Random(20261202)
    out = tmp_path / "site"
    cache = tmp_path / "cache" if cache_kind == "disk" else engine.MEMORY
    sources = bench_content / "sources"
    docs = {}  # what the files say, by file

    def files():
        return sorted(sources.glob("*.y*ml"))

    def read(path):  # every file is read once, while it is whole; after that its doc is kept here
        if path.name not in docs:
            docs[path.name] = yaml.safe_load(path.read_text(encoding="utf-8"))
        return docs[path.name]

    def of(profile):
        return [read(path) for path in files() if read(path)["profile"] == profile]

    def rename(doc):
        doc["name"] = rng.choice(["Aaa first", "Zzz last", doc["name"] + " renamed"])

    def move(doc):
        doc["profile"] = "northwind" if doc["profile"] == "cyspera" else "cyspera"
        for account in doc["external_accounts"]:
            account["profile"] = doc["profile"]

    def new_ref(doc):
        doc["external_accounts"][0]["ref"] = doc["external_accounts"][0]["ref"][:-3] + str(rng.randrange(100, 999))

    def accounts(doc):
        if len(doc["external_accounts"]) > 1:
            doc["external_accounts"].pop()
        else:
            doc["external_accounts"].append(dict(doc["external_accounts"][0], name="Another account",
                                                 ref=doc["external_accounts"][0]["ref"][:-2] + "77", selected=False))

    def show_foreign_name(doc):
        doc["context"] = "Compare with " + rng.choice(of("northwind"))["name"]

    def paste_foreign_ref(doc):
        doc["context"] = "Pasted " + rng.choice(of("northwind"))["external_accounts"][0]["ref"]

    def runs(doc):
        if len(doc["sync_history"]) > 3:
            del doc["sync_history"][2:]
        else:
            doc["sync_history"] = doc["sync_history"] + [dict(doc["sync_history"][-1])] * 10

    def notes(doc):
        if doc.pop("notes", None) is None:
            doc["notes"] = "A *new* note."

    def platform(doc):
        doc["platform"] = rng.choice(list(generate.PLATFORMS))

    for path in files():
        read(path)
    changes = [rename, move, new_ref, accounts, show_foreign_name, paste_foreign_ref, runs, notes, platform] * 3
    rng.shuffle(changes)
    build(bench_content, out, cache_dir=cache)
    broken, pasted = None, None
    failures: set[str] = set()
    for change in changes + [None]:  # None: the end, where whatever is broken or pasted is mended
        if pasted is not None and (change is None or rng.random() < 0.5):
            doc = read(pasted)
            doc["context"] = "Mended."
            pasted.write_text(generate.dump(doc), encoding="utf-8")
            pasted = None
        if broken is not None and (change is None or rng.random() < 0.5):
            broken.write_text(generate.dump(read(broken)), encoding="utf-8")
            broken = None
        if change is None:
            pass
        elif rng.random() < 0.15 and broken is None:
            broken = rng.choice(files())
            broken.write_text(broken.read_text() + "\nnot: [closed\n", encoding="utf-8")
        elif rng.random() < 0.1:
            path = rng.choice(files())
            moved = path.with_suffix(".yml" if path.suffix == ".yaml" else ".yaml")
            path.rename(moved)
            docs[moved.name] = docs.pop(path.name)
            broken = moved if path == broken else broken
            pasted = moved if path == pasted else pasted
        else:
            path = rng.choice([p for p in files() if p not in (broken, pasted)])
            doc = read(path)
            if change is paste_foreign_ref:
                if pasted is not None:
                    continue
                pasted = path
            change(doc)
            path.write_text(generate.dump(doc), encoding="utf-8")
        before = tree(out)
        try:
            build(bench_content, out, cache_dir=cache)
        except (ContentError, pipeline.LeakError) as failed:
            failures.add(type(failed).__name__)
            assert tree(out) == before
            with pytest.raises(type(failed)) as cold:
                build(bench_content, tmp_path / "cold", cache_dir=None)
            assert str(cold.value) == str(failed)
            continue
        assert_same_as_cold(bench_content, out, tmp_path)
        assert_the_words_hold_every_word_of_the_sources_files(out, cache)
    assert broken is None and pasted is None
    assert failures == {"ContentError", "LeakError"}  # both kinds of failed build were met


def assert_the_words_hold_every_word_of_the_sources_files(out, cache):
    """The store's words (a rebuild looks a new canary up in them before it reads the unchanged
    files again for it) hold every word of every source's file in the output."""
    store = Store.open(cache)
    try:
        words, paths = set(store.words().split(b"\n")), list(store.source_paths())
    finally:
        store.close()
    assert paths
    for path in paths:
        data = (out / path).read_bytes()
        missing = verify.words_of(data, verify.reads_as_shown(data)) - words
        assert not missing, (path, sorted(missing)[:5])


def test_profile_switch_rebuilds_everything(tmp_path):
    content = copy_content(MINIMAL, tmp_path / "content")
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(content, out, cache_dir=cache)
    result = build(content, out, cache_dir=cache, profile="northwind")
    assert result.mode == "cold"
    assert_same_as_cold(content, out, tmp_path, profile="northwind")


def test_a_tampered_output_is_rebuilt_whole(bench_content, tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    (out / "index.html").write_text("tampered", encoding="utf-8")
    result = build(bench_content, out, cache_dir=cache)
    assert result.mode == "cold"
    assert_same_as_cold(bench_content, out, tmp_path)


def test_an_error_in_an_incremental_build_keeps_the_output(bench_content, tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    before = tree(out)
    path = bench_content / "sources" / "bench-000003.yaml"
    path.write_text(path.read_text().replace("status: ", "status: purple #", 1), encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        build(bench_content, out, cache_dir=cache)
    assert any("bench-000003.yaml" in p.path for p in caught.value.problems)
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "content", "site"]


def test_a_failed_build_reports_the_warnings_of_the_sources_as_they_are_now(bench_content, tmp_path):
    """The report of a failed incremental build is a cold build's: a source edited since the
    last build gives its new warnings (none, here), a deleted one none, a newly warned one its
    warning, whether it was read before or after the file in error."""
    import yaml
    sources = bench_content / "sources"

    def unprefixed(number: int, ref: str | None = "zz_1234567890") -> None:
        path = sources / f"bench-{number:06d}.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["external_accounts"][0]["ref"] = ref or generate.source(number)["external_accounts"][0]["ref"]
        path.write_text(generate.dump(doc), encoding="utf-8")
    out, cache = tmp_path / "site", tmp_path / "cache"
    unprefixed(5)
    unprefixed(30)
    build(bench_content, out, cache_dir=cache)
    unprefixed(5, None)  # its warning is gone
    (sources / "bench-000030.yaml").unlink()
    unprefixed(1)
    unprefixed(20)
    path = sources / "bench-000010.yaml"
    path.write_text(path.read_text().replace("status: ", "status: purple #", 1), encoding="utf-8")
    reports = []
    for cache_dir in (cache, None):
        with pytest.raises(ContentError) as caught:
            build(bench_content, out, cache_dir=cache_dir)
        reports.append([str(p) for p in caught.value.problems])
    assert reports[0] == reports[1]
    warned = [p.rpartition("/")[2].partition(":")[0] for p in reports[0] if "platform prefix" in p]
    assert warned == ["bench-000001.yaml", "bench-000020.yaml"]


def test_an_edit_that_keeps_the_size_and_the_mtime_is_rebuilt(bench_content, tmp_path):
    """A filesystem whose clock ticks once a second or two (HFS+, FAT) gives a file edited again
    within that tick its old mtime: a file written that close to the last build is read, and
    its bytes compared, so the edit is not missed."""
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    path = bench_content / "sources" / "bench-000004.yaml"
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    assert "(preview)" in text
    path.write_text(text.replace("(preview)", "(PREVIEW)"), encoding="utf-8")  # the same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    result = build(bench_content, out, cache_dir=cache)
    assert result.rendered == 1 and "(PREVIEW)" in (out / "sources" / "bench-000004.html").read_text()
    assert_same_as_cold(bench_content, out, tmp_path)


def test_only_files_written_just_before_the_last_build_are_read_again(bench_content, tmp_path, monkeypatch):
    """Files older than the filesystem's coarsest tick before the last build are trusted by
    their signature, as before; those written just before it are read, and rendered only if
    their bytes changed."""
    out, cache = tmp_path / "site", tmp_path / "cache"
    sources = sorted((bench_content / "sources").glob("*.yaml"))
    hour_ago = time.time_ns() - 3600 * 10**9
    for path in sources[3:]:
        os.utime(path, ns=(hour_ago, hour_ago))
    build(bench_content, out, cache_dir=cache)
    read = []
    still = engine._still
    monkeypatch.setattr(engine, "_still", lambda file, digest: read.append(file.name) or still(file, digest))
    result = build(bench_content, out, cache_dir=cache)
    assert sorted(read) == [path.name for path in sources[:3]]
    assert (result.mode, result.rendered) == ("unchanged", 0)


def test_a_new_ref_already_in_an_unchanged_page_is_caught(bench_content, tmp_path):
    """The canaries changed, so the scan reads the unchanged pages again, not only the new ones."""
    out, cache = tmp_path / "site", tmp_path / "cache"
    quiet = bench_content / "sources" / "bench-000001.yaml"
    quiet.write_text(quiet.read_text().replace("(preview)", "(preview) see tt_5550001112_zz"), encoding="utf-8")
    build(bench_content, out, cache_dir=cache)
    before = tree(out)
    doc = generate.source(2000)
    doc["external_accounts"][0]["ref"] = "tt_5550001112_zz"
    (bench_content / "sources" / "bench-002000.yaml").write_text(generate.dump(doc), encoding="utf-8")
    with pytest.raises(pipeline.LeakError) as caught:
        build(bench_content, out, cache_dir=cache)
    assert any(leak.file == "sources/bench-000001.html" for leak in caught.value.leaks)
    assert tree(out) == before


def test_an_interrupted_incremental_write_is_finished_by_the_next_build(bench_content, tmp_path, monkeypatch):
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    path = bench_content / "sources" / "bench-000005.yaml"
    path.write_text(path.read_text().replace("(preview)", "(preview, edited)"), encoding="utf-8")

    def stop_after_the_plan(plan):
        raise KeyboardInterrupt  # the process dies after writing the journal, before replacing

    monkeypatch.setattr(engine, "_roll_forward", stop_after_the_plan)
    with pytest.raises(KeyboardInterrupt):
        build(bench_content, out, cache_dir=cache)
    journal = tmp_path / ".site.journal.json"
    assert journal.exists() and json.loads(journal.read_text())["replace"]
    monkeypatch.undo()
    build(bench_content, out, cache_dir=cache)  # finishes the plan, then builds
    assert not journal.exists()
    assert_same_as_cold(bench_content, out, tmp_path)


def test_parallel_and_single_process_builds_are_identical(tmp_path):
    content = generate.write_content(tmp_path / "content", engine.PARALLEL_FROM + 20)
    build(content, tmp_path / "one", jobs=1)
    build(content, tmp_path / "two", jobs=2)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


def test_the_scan_over_both_cores_finds_what_one_process_finds(tmp_path, monkeypatch):
    """The parallel scan's workers start from a process of their own, with the canaries handed
    to them (a one-off build), or are forked from serve's process, which keeps its automaton, or
    from the build's if the server cannot start: with every ref shown raw, they report the same
    leaks, in every chunk of files."""
    from multiprocessing import forkserver

    from healthsite import masking, resolve, verify
    content = generate.write_content(tmp_path / "content", 2 * 256)  # more than one chunk of files each
    monkeypatch.setattr(resolve, "mask_ref", lambda ref, prefix: ref)
    assert masking.mask_ref is not resolve.mask_ref

    def no_unix_sockets():
        raise PermissionError(1, "Operation not permitted")
    found = []
    for jobs, cache, server in ((1, None, True), (2, None, True), (2, engine.MEMORY, True), (2, None, False)):
        monkeypatch.setattr(verify, "_SCANNER", None)
        if not server:
            monkeypatch.setattr(forkserver, "ensure_running", no_unix_sockets)
        with pytest.raises(pipeline.LeakError) as caught:
            build(content, tmp_path / f"site-{jobs}-{cache}-{server}", jobs=jobs, cache_dir=cache)
        found.append(caught.value.leaks)
        assert (verify._SCANNER is None) == (jobs == 2 and cache is None)  # made in the workers only
    assert found[0] == found[1] == found[2] == found[3]
    pages = {leak.file for leak in found[0] if leak.file.startswith("sources/")}
    assert len(pages) > 256 and "sources.json" in {leak.file for leak in found[0]}


def test_a_script_without_a_main_guard_builds_once(tmp_path):
    """The scan's workers do not run the script that started the build again (multiprocessing
    would, for any start method but fork): a plain script calling build works over both cores."""
    import subprocess
    content = generate.write_content(tmp_path / "content", engine.PARALLEL_FROM + 20)
    script = tmp_path / "unguarded.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom healthsite import pipeline\n"
                      f"result = pipeline.build({str(content)!r}, {str(tmp_path / 'site')!r}, jobs=2)\n"
                      "print('built', result.sources)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("built") == 1, done.stdout


def test_no_progress_bar_in_pipes(bench_content, tmp_path):
    result = CliRunner().invoke(cli, ["build", "--content", str(bench_content), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("built 36 sources")
    assert "rendering" not in result.output


@pytest.mark.parametrize("stray", ["stray.html", "sources/stray.html", "extra/stray.html", "extra/deeper/stray.txt"])
def test_a_file_dropped_into_the_output_means_a_cold_build(bench_content, tmp_path, stray):
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    (out / stray).parent.mkdir(parents=True, exist_ok=True)
    (out / stray).write_text("left here by hand", encoding="utf-8")
    result = build(bench_content, out, cache_dir=cache)
    assert result.mode == "cold"
    assert not (out / stray).exists()
    assert_same_as_cold(bench_content, out, tmp_path)


# ---- the store (SQLite): a failed build leaves it as it was; a broken one is only a slower build
def test_a_failed_build_leaves_the_store_as_the_last_good_build_left_it(bench_content, tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    good = bench_content / "sources" / "bench-000004.yaml"
    bad = bench_content / "sources" / "bench-000003.yaml"
    good.write_text(good.read_text().replace("(preview)", "(preview, edited)"), encoding="utf-8")
    original = bad.read_text()
    bad.write_text(original.replace("status: ", "status: purple #", 1), encoding="utf-8")
    with pytest.raises(ContentError):
        build(bench_content, out, cache_dir=cache)  # bench-000004 was processed, then the build failed
    bad.write_text(original, encoding="utf-8")
    result = build(bench_content, out, cache_dir=cache)
    # The edited source was not remembered as built: it is rendered (and written) now.
    assert result.mode == "incremental" and result.rendered >= 1
    assert "(preview, edited)" in (out / "sources" / "bench-000004.html").read_text()
    assert_same_as_cold(bench_content, out, tmp_path)


@pytest.mark.parametrize("damage", [b"not a database at all", b"SQLite format 3\x00" + b"\xff" * 200, None])
def test_a_broken_or_old_cache_is_only_a_slower_build(bench_content, tmp_path, damage):
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    if damage is None:  # the cache of an older version: a pickle, not a database
        (cache / "state.sqlite").unlink()
        (cache / "state.pickle").write_bytes(b"\x80\x04K\x01.")
    else:
        (cache / "state.sqlite").write_bytes(damage)
    result = build(bench_content, out, cache_dir=cache)
    assert result.mode == "cold"
    assert build(bench_content, out, cache_dir=cache).mode == "unchanged"
    assert_same_as_cold(bench_content, out, tmp_path)


@pytest.mark.parametrize("scan_apart", [False, True], ids=["scan here", "scan in a worker"])
def test_without_a_cache_nothing_is_left_behind(bench_content, tmp_path, monkeypatch, scan_apart):
    """Not the store, nor the file of canaries a scan's workers read."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    if scan_apart:
        monkeypatch.setattr(engine, "FRESH_FROM", 0)
        monkeypatch.setattr(engine.verify, "_SCANNER", None)
        made, mkstemp = [], tempfile.mkstemp
        monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: made.append(mkstemp(**kw)) or made[-1])
    build(bench_content, tmp_path / "site")
    if scan_apart:
        assert any("canaries" in name for _, name in made)
    # pymp-*: the folder of the workers' server's socket, which multiprocessing removes at exit
    assert [p for p in scratch.iterdir() if not p.name.startswith("pymp-")] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "site", "tmp"]


def test_dashboard_rows_stream_into_a_template_that_shows_them_twice(bench_content, tmp_path):
    """The rows are streamed into the one place a template puts them; a template that puts them
    in two places still gets them in both."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    index = templates / "index.html"
    index.write_text(index.read_text().replace("      {{ rows }}", "      {{ rows }}\n      {{ rows }}"), encoding="utf-8")
    build(bench_content, tmp_path / "site", templates=templates)
    page = (tmp_path / "site" / "index.html").read_text()
    assert page.count('<tr data-status="') == 2 * 36
    failing = page.count('<tr data-status="failing"') // 2
    filtered = (tmp_path / "site" / "status" / "failing.html").read_text()
    assert failing > 0 and filtered.count('<tr data-status="') == filtered.count('<tr data-status="failing"') == 2 * failing


def test_a_changed_ref_of_an_unshown_source_is_looked_for_in_unchanged_pages(bench_content, tmp_path):
    """Another profile's source changes nothing on the site, but its new ref is a new canary:
    the unchanged pages are scanned for it (the canaries are not taken from the last build)."""
    out, cache = tmp_path / "site", tmp_path / "cache"
    quiet = bench_content / "sources" / "bench-000001.yaml"
    quiet.write_text(quiet.read_text().replace("(preview)", "(preview) see tt_5550009999_zz"), encoding="utf-8")
    build(bench_content, out, cache_dir=cache)
    before = tree(out)
    foreign = next(p for p in sorted((bench_content / "sources").glob("*.yaml"))
                   if "profile: northwind" in p.read_text())
    doc = generate.source(int(foreign.stem.split("-")[1]))
    assert doc["profile"] == "northwind"
    doc["external_accounts"][0]["ref"] = "tt_5550009999_zz"
    foreign.write_text(generate.dump(doc), encoding="utf-8")
    with pytest.raises(pipeline.LeakError) as caught:
        build(bench_content, out, cache_dir=cache)
    assert any(leak.file == "sources/bench-000001.html" for leak in caught.value.leaks)
    assert tree(out) == before


def test_an_edit_that_shows_a_foreign_name_is_no_leak_in_an_incremental_build(tmp_path):
    """A name the site shows anyway is no canary: an edit that puts another profile's source name
    in an authorized source's text changes the canaries, and the incremental build knows it."""
    content = copy_content(MINIMAL, tmp_path / "content")
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(content, out, cache_dir=cache)
    mine = content / "sources" / "shopify-eu.yaml"
    text = mine.read_text()
    assert "\ncontext:" in text
    mine.write_text(text.replace("\ncontext: ", f"\ncontext: Compare with {FOREIGN_SOURCE[1]}. ", 1), encoding="utf-8")
    result = build(content, out, cache_dir=cache)
    assert result.mode == "incremental"
    assert FOREIGN_SOURCE[1] in (out / "sources" / "shopify-eu.html").read_text()
    assert_same_as_cold(content, out, tmp_path)


def test_the_store_keeps_the_canaries_the_one_process_way_makes(bench_content, tmp_path):
    """The canaries a build keeps in its store (made there from the sources' lists, the names the
    site shows taken out by a scan of its text) are the ones resolve makes from the content in
    memory: every raw ref, and every foreign name the site does not show anyway, once."""
    import json as json_
    from healthsite.load import load
    from healthsite.resolve import FOREIGN_NAME_MIN, resolve
    from healthsite.store import Store
    mine = bench_content / "sources" / "bench-000000.yaml"
    others = [i for i in range(40) if generate.source(i)["profile"] != "cyspera"]
    foreign = generate.source(others[0])["name"]
    mine.write_text(mine.read_text().replace("\ncontext: ", f"\ncontext: Compare with {foreign}. ", 1), encoding="utf-8")
    short = bench_content / "sources" / f"bench-{others[1]:06d}.yaml"  # a name too short to look for
    short.write_text(short.read_text().replace(f"name: {generate.source(others[1])['name']}\n", "name: Zed\n", 1),
                     encoding="utf-8")
    build(bench_content, tmp_path / "site", cache_dir=tmp_path / "cache")
    canaries = resolve(load(bench_content)).canaries
    store = Store.open(tmp_path / "cache")
    try:
        lines = [(line[0], json_.loads(line[1:])) for line in store.canary_lines()]
        names = [json_.loads(line[1:]) for line in store.foreign_name_lines()]
    finally:
        store.close()
    assert [text for kind, text in lines if kind == "0"] == sorted(canaries.foreign_names, key=str.encode)
    assert [text for kind, text in lines if kind == "1"] == sorted(canaries.refs, key=str.encode)
    assert foreign in names and foreign not in canaries.foreign_names  # shown: known, no canary
    assert canaries.foreign_names and "Zed" not in names and all(len(name) >= FOREIGN_NAME_MIN for name in names)


def test_a_rename_rewrites_only_the_pages_that_show_its_row_and_equals_a_cold_build(bench_content, tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    before = tree(out)
    path = bench_content / "sources" / "bench-000012.yaml"
    text = path.read_text()
    status = next(line.split(": ")[1] for line in text.splitlines() if line.startswith("status: "))
    platform = next(line.split(": ")[1] for line in text.splitlines() if line.startswith("platform: "))
    path.write_text(text.replace("\nname: ", "\nname: Aardvark ", 1) if "\nname: " in text
                    else text.replace("name: ", "name: Aardvark ", 1), encoding="utf-8")
    result = build(bench_content, out, cache_dir=cache)
    assert result.mode == "incremental"
    after = tree(out)
    rewritten = {p for p in after if after[p] != before.get(p)}
    assert rewritten == {"sources/bench-000012.html", "badges/bench-000012.svg", "index.html", "sources.json",
                         f"status/{status}.html", f"platform/{platform}.html"} | (
        {"history/bench-000012.html"} if "history/bench-000012.html" in after else set())
    assert "Aardvark" in (out / f"status/{status}.html").read_text()
    assert_same_as_cold(bench_content, out, tmp_path)


def test_a_build_waits_for_another_build_with_the_same_cache_then_goes_on(bench_content, tmp_path, monkeypatch, capsys):
    import sqlite3
    import threading
    from healthsite import store
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    other = sqlite3.connect(cache / "state.sqlite", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another build holds the store
    threading.Timer(0.5, lambda: other.execute("ROLLBACK")).start()
    result = build(bench_content, out, cache_dir=cache)
    assert result.mode == "unchanged"
    assert "waiting for another build that uses the same cache" in capsys.readouterr().err
    # ... and gives up with a message, not a traceback, when the other never ends.
    monkeypatch.setattr(store, "WAIT", 0.2)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OutputError, match="the cache is in use by another build"):
            build(bench_content, out, cache_dir=cache)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert build(bench_content, out, cache_dir=cache).mode == "unchanged"


@pytest.mark.parametrize("direction", ["away", "back"])
def test_a_source_moved_to_another_profile_leaves_every_page_in_an_incremental_build(bench_content, tmp_path, direction):
    """Profile isolation through the store: a source handed to another profile loses its pages,
    its dashboard rows and its sources.json line; handed back, it gets them again."""
    out, cache = tmp_path / "site", tmp_path / "cache"
    path = bench_content / "sources" / "bench-000002.yaml"
    original = path.read_text()
    moved = original.replace("profile: cyspera", "profile: northwind")
    assert moved != original
    if direction == "back":
        path.write_text(moved, encoding="utf-8")
    build(bench_content, out, cache_dir=cache)
    name = generate.source(2)["name"]
    path.write_text(moved if direction == "away" else original, encoding="utf-8")
    result = build(bench_content, out, cache_dir=cache)
    assert result.mode == "incremental"
    site = tree(out)
    shown = any(name.encode() in data for data in site.values())
    assert shown == (direction == "back")
    assert ("sources/bench-000002.html" in site) == (direction == "back")
    assert_same_as_cold(bench_content, out, tmp_path)


def test_workers_are_handed_a_few_chunks_at_a_time_in_order():
    """Executor.map would submit every chunk at once (each holding its items until done)."""
    from concurrent.futures import Future

    class Pool:
        def __init__(self):
            self.pending, self.most = [], 0

        def submit(self, func, *args):
            future = Future()
            future.set_result(func(*args))
            self.pending.append(future)
            self.most = max(self.most, sum(1 for f in self.pending if not getattr(f, "read", False)))
            original = future.result

            def result(timeout=None):
                future.read = True
                return original(timeout)
            future.result = result
            return future

    for chunksize in (1, 3):
        pool = Pool()
        assert list(engine._in_order(pool, lambda x: x * 2, range(100), chunksize, ahead=4)) == \
            [x * 2 for x in range(100)]
        assert pool.most == 5  # ahead chunks waiting, and the one just handed out


def test_the_scan_is_fed_a_few_chunks_at_a_time_its_leaks_in_order(monkeypatch):
    """A cold build's scan of every source's files is handed to the pool from a thread, a few
    chunks at a time, while the build makes the site-level files; the leaks come in order, and a
    worker's error is the build's."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from healthsite import verify

    class Pool(ThreadPoolExecutor):  # counts the chunks handed out and not read back
        def __init__(self):
            super().__init__(max_workers=2)
            self.lock, self.out, self.most = threading.Lock(), 0, 0

        def submit(self, func, *args):
            with self.lock:
                self.out += 1
                self.most = max(self.most, self.out)
            future = super().submit(func, *args)
            original = future.result

            def result(timeout=None):
                with self.lock:
                    self.out -= 1
                return original(timeout)
            future.result = result
            return future

    def scan_chunk(item):
        time.sleep(0.001 * (item % 3))  # done out of order
        if item == 66:
            raise RuntimeError("a worker failed")
        return [item, -item]
    monkeypatch.setattr(verify, "scan_chunk", scan_chunk)
    with Pool() as pool:
        feeder = engine._Feeder(pool, list(range(50)), ahead=4)
        feeder.start()
        assert feeder.result() == [leak for item in range(50) for leak in (item, -item)]
        assert pool.most == 4
    with Pool() as pool:
        feeder = engine._Feeder(pool, list(range(100)), ahead=4)
        feeder.start()
        with pytest.raises(RuntimeError, match="a worker failed"):
            feeder.result()


def test_the_first_rebuild_after_a_build_over_both_cores_compiles_no_template(tmp_path, monkeypatch):
    """The build's process loads the source templates before its workers fork (they inherit
    them), so serve's first save does not compile them."""
    from healthsite import render
    content = generate.write_content(tmp_path / "content", engine.PARALLEL_FROM + 10)
    templates = tmp_path / "templates"  # a folder of its own: no other test has loaded its templates
    shutil.copytree(TEMPLATES, templates)
    out = tmp_path / "site"
    build(content, out, cache_dir=engine.MEMORY, jobs=2, templates=templates)
    env = render.Renderer.for_folder(templates).env
    compiled, compile_ = [], env.compile
    monkeypatch.setattr(env, "compile", lambda *args, **kwargs: compiled.append(args[1]) or compile_(*args, **kwargs))
    edited = sorted((content / "sources").glob("*.yaml"))[3]
    edited.write_text(edited.read_text(encoding="utf-8").replace("(preview)", "(preview, edited)"), encoding="utf-8")
    result = build(content, out, cache_dir=engine.MEMORY, jobs=2, templates=templates)
    assert (result.mode, result.rendered) == ("incremental", 1)
    assert compiled == []


def test_a_failure_while_the_scan_runs_stops_its_workers_and_keeps_the_old_output(tmp_path, monkeypatch):
    """A cold build's scan of the sources' pages begins on its workers before the site-level
    files are made; if making them fails, the workers are stopped, the canaries' file removed
    and the last output kept, as with any failed build."""
    from healthsite import render
    content = generate.write_content(tmp_path / "content", 2 * 256)  # two chunks of pages and more
    out = tmp_path / "site"
    build(content, out, jobs=2)
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    begun = []
    original = engine._Scan.begin

    def begin(self, groups):
        original(self, groups)
        begun.append(self.pool)

    def broken(*args, **kwargs):
        raise render.RenderError("index.html: template error: broken on purpose")
        yield
    monkeypatch.setattr(engine._Scan, "begin", begin)
    monkeypatch.setattr(render.Renderer, "site_files", broken)
    with pytest.raises(render.RenderError):
        build(content, out, jobs=2)
    assert begun and begun[0] is not None  # the scan had begun on its workers
    with pytest.raises(RuntimeError, match="shutdown"):  # and it was stopped
        begun[0].submit(len, "")
    assert [p for p in scratch.iterdir() if not p.name.startswith("pymp-")] == []
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before


def test_a_rebuild_scans_unchanged_files_only_for_the_canaries_it_added(bench_content, tmp_path, monkeypatch):
    """The unchanged files were clean of the last build's canaries: when a source is deleted
    (canaries only go) they are not scanned again; when a ref is added whose word none of the
    sources' files holds (Store.words), neither; when a foreign name is added whose words they
    hold, they are scanned for that name alone. Each time the output equals a cold build."""
    import yaml

    from healthsite import verify
    out, cache = tmp_path / "site", tmp_path / "cache"
    build(bench_content, out, cache_dir=cache)
    scanned, made = [], []
    scan_tree, from_lines = verify.scan_tree, verify.Scanner.from_lines.__func__

    as_shown = set()

    def recording_scan_tree(folder, canaries, files=None, shapes=True, scanner=None, **kwargs):
        scanned.extend(files or [])
        if kwargs.get("as_shown"):
            as_shown.update(files or [])
        return scan_tree(folder, canaries, files, shapes, scanner, **kwargs)

    def recording_from_lines(cls, lines):
        lines = list(lines)
        made.append(lines)
        return from_lines(cls, lines)
    monkeypatch.setattr(verify, "scan_tree", recording_scan_tree)
    monkeypatch.setattr(verify.Scanner, "from_lines", classmethod(recording_from_lines))

    (bench_content / "sources" / "bench-000003.yaml").unlink()
    result = build(bench_content, out, cache_dir=cache)
    assert result.mode == "incremental"
    assert [name for name in scanned if name.startswith(("sources/", "history/", "badges/"))] == []
    assert_same_as_cold(bench_content, out, tmp_path)

    scanned.clear(), made.clear()
    path = bench_content / "sources" / "bench-000004.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["external_accounts"][0]["ref"] = "tt_5550004444_zz"
    path.write_text(generate.dump(doc), encoding="utf-8")
    build(bench_content, out, cache_dir=cache)
    assert ['1"tt_5550004444_zz"\n'] in made  # the added canaries' scanner: that ref alone
    assert "sources/bench-000010.html" not in scanned  # no unchanged page holds its word
    assert "sources/bench-000004.html" in scanned  # its own page, rewritten
    assert_same_as_cold(bench_content, out, tmp_path)

    scanned.clear(), made.clear()
    foreign = next(p for p in sorted((bench_content / "sources").glob("*.yaml")) if "profile: northwind" in p.read_text())
    doc = yaml.safe_load(foreign.read_text(encoding="utf-8"))
    doc["external_accounts"][0]["name"] = "FR Account"  # each of its words is in the pages, not it
    foreign.write_text(generate.dump(doc), encoding="utf-8")
    build(bench_content, out, cache_dir=cache)
    assert ['0"FR Account"\n'] in made
    assert "sources/bench-000010.html" in scanned  # an unchanged page, scanned for it
    assert "sources/bench-000010.html" in as_shown  # its bytes known to read as shown: not decoded
    assert_same_as_cold(bench_content, out, tmp_path)


@pytest.mark.parametrize("cache_kind", ["disk", "serve"])
def test_a_rebuild_scans_its_site_files_as_they_are_written_and_reports_as_a_cold_build(tmp_path, monkeypatch,
                                                                                        cache_kind):
    """A rebuild of many sources hands each new site-level file to the scan's workers as soon as
    it is written (sources.json first): workers of their own in a one-off build, forked from
    serve's process (sharing its automaton) in serve's. A leak in them is reported as a cold
    build reports it, in the same order."""
    import yaml
    content = generate.write_content(tmp_path / "content", 30)
    monkeypatch.setattr(engine, "STREAM_FROM", 20)  # 27 shown sources count as many
    out = tmp_path / "site"
    cache = tmp_path / "cache" if cache_kind == "disk" else engine.MEMORY
    build(content, out, cache_dir=cache, jobs=2)
    streamed = []
    stream = engine._Scan.stream
    monkeypatch.setattr(engine._Scan, "stream", lambda self, folder, relpath: streamed.append(relpath)
                        or stream(self, folder, relpath))
    foreign = yaml.safe_load((content / "sources" / "bench-000009.yaml").read_text(encoding="utf-8"))
    path = content / "sources" / "bench-000004.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["name"] = "Zz " + foreign["external_accounts"][0]["ref"]  # shown on its page, its rows, sources.json
    path.write_text(generate.dump(doc), encoding="utf-8")
    before = tree(out)
    with pytest.raises(pipeline.LeakError) as failed:
        build(content, out, cache_dir=cache, jobs=2)
    assert streamed[0] == "sources.json" and "index.html" in streamed
    assert {"sources.json", "index.html", "sources/bench-000004.html"} <= {leak.file for leak in failed.value.leaks}
    assert tree(out) == before
    with pytest.raises(pipeline.LeakError) as cold:
        build(content, tmp_path / "cold", jobs=2)
    assert failed.value.leaks == cold.value.leaks
    doc["name"] = "Zz renamed"
    path.write_text(generate.dump(doc), encoding="utf-8")
    build(content, out, cache_dir=cache, jobs=2)
    assert_same_as_cold(content, out, tmp_path)


@pytest.mark.parametrize("cache_kind", ["disk", "serve"])
def test_a_rebuild_scans_its_site_level_files_as_their_parts_and_finds_what_a_cold_build_finds(tmp_path, monkeypatch,
                                                                                               cache_kind):
    """A status changed rewrites every dashboard page and sources.json (their counts): they are
    scanned as their parts (their text outside the rows and the one source's new rows), not
    whole. A source added whose ref an unchanged source's name holds (on that source's rows, in
    pages scanned as parts) is found there as a cold build finds it, and one whose new row holds
    another profile's ref has the pages scanned whole, to say where."""
    import yaml
    content = generate.write_content(tmp_path / "content", 30)
    monkeypatch.setattr(engine, "STREAM_FROM", 20)  # 27 shown sources count as many
    out = tmp_path / "site"
    cache = tmp_path / "cache" if cache_kind == "disk" else engine.MEMORY
    ref = "tt_5550001113_zz"
    build(content, out, cache_dir=cache, jobs=2)

    def inner() -> set[str]:  # the sources whose rows are neither first nor last on any page
        orders = [re.findall(r'href="(?:\.\./)?sources/(bench-\d{6})\.html"', (out / page).read_text(encoding="utf-8"))
                  for page in ["index.html", *(f"{kind}/{p.stem}.html" for kind in ("status", "platform")
                                               for p in (out / kind).glob("*.html"))]]
        return set(orders[0]) - {order[end] for order in orders if order for end in (0, -1)}
    named = content / "sources" / f"{sorted(inner())[0]}.yaml"
    named.write_text(re.sub(r"(?m)^(name: .*)$", f"\\1 {ref}", named.read_text(), count=1), encoding="utf-8")
    build(content, out, cache_dir=cache, jobs=2)
    assert named.stem in inner()
    streamed, parts = [], []
    stream, scan_parts = engine._Scan.stream, engine._scan_parts
    monkeypatch.setattr(engine._Scan, "stream", lambda self, folder, relpath: streamed.append(relpath)
                        or stream(self, folder, relpath))
    monkeypatch.setattr(engine, "_scan_parts", lambda scan, outside, rows: parts.append((dict(outside), rows))
                        or scan_parts(scan, outside, rows))
    edited = generate.shown_file(content, 5)
    edited.write_text(generate.EDITS["status"](edited.read_text(encoding="utf-8")), encoding="utf-8")
    result = build(content, out, cache_dir=cache, jobs=2)
    assert result.written > 10 and streamed == []  # every dashboard page and sources.json, none whole
    (outside, rows), = parts
    assert {"index.html", "sources.json", "status/healthy.html"} <= set(outside)
    assert len(rows) == 3 and {path for path, _ in rows} == {"index.html", "sources.json"}  # its two rows, its entry
    for path, texts in outside.items():  # the text around the rows, and at most the first and the last row
        assert len(texts) == 2 and all(len(set(re.findall(r"bench-\d{6}", text))) <= 1 for text in texts), path
    assert_same_as_cold(content, out, tmp_path)

    added = generate.source(2000)
    added["external_accounts"][0]["ref"] = ref
    (content / "sources" / "bench-002000.yaml").write_text(generate.dump(added), encoding="utf-8")
    parts.clear()
    before = tree(out)
    with pytest.raises(pipeline.LeakError) as failed:
        build(content, out, cache_dir=cache, jobs=2)
    assert parts and streamed == []  # the parts were clean: the named source's rows are not new, nor beside them
    assert {"index.html", "sources.json", f"sources/{named.stem}.html"} <= {leak.file for leak in failed.value.leaks}
    assert tree(out) == before
    with pytest.raises(pipeline.LeakError) as cold:
        build(content, tmp_path / "cold", jobs=2)
    assert failed.value.leaks == cold.value.leaks

    (content / "sources" / "bench-002000.yaml").unlink()
    foreign = yaml.safe_load((content / "sources" / "bench-000009.yaml").read_text(encoding="utf-8"))
    doc = yaml.safe_load(edited.read_text(encoding="utf-8"))
    doc["name"] = "Zz " + foreign["external_accounts"][0]["ref"]  # on its page, its rows and its entry
    edited.write_text(generate.dump(doc), encoding="utf-8")
    with pytest.raises(pipeline.LeakError) as failed:
        build(content, out, cache_dir=cache, jobs=2)
    assert "index.html" in streamed and "sources.json" in streamed  # scanned whole: where is it?
    with pytest.raises(pipeline.LeakError) as cold:
        build(content, tmp_path / "cold", jobs=2)
    assert failed.value.leaks == cold.value.leaks


def test_a_rebuild_scans_its_site_level_files_whole_if_a_row_looks_active(tmp_path, monkeypatch):
    """Whether text is active content depends on what is around it (a quote left open in the
    row before), and the rows around an unchanged one change: if the first look for active
    content stops at any shown source's row, a rebuild's site-level files are scanned whole."""
    content = generate.write_content(tmp_path / "content", 30)
    monkeypatch.setattr(engine, "STREAM_FROM", 20)
    out, cache = tmp_path / "site", tmp_path / "cache"
    odd = content / "sources" / "bench-000003.yaml"
    odd.write_text(re.sub(r"(?m)^(name: .*)$", "\\1 onclick=go", odd.read_text(), count=1), encoding="utf-8")
    build(content, out, cache_dir=cache, jobs=2)  # escaped text on its pages: no active content
    streamed, parts = [], []
    stream = engine._Scan.stream
    monkeypatch.setattr(engine._Scan, "stream", lambda self, folder, relpath: streamed.append(relpath)
                        or stream(self, folder, relpath))
    monkeypatch.setattr(engine, "_scan_parts", lambda *args: parts.append(args))
    edited = generate.shown_file(content, 5)
    edited.write_text(generate.EDITS["status"](edited.read_text(encoding="utf-8")), encoding="utf-8")
    build(content, out, cache_dir=cache, jobs=2)
    assert parts == [] and {"index.html", "sources.json"} <= set(streamed)
    assert_same_as_cold(content, out, tmp_path)


def test_a_failed_rebuild_reports_its_leaks_in_a_cold_builds_order(bench_content, tmp_path):
    """Whatever a rebuild scanned when (changed pages, unchanged ones for a new canary, the
    site-level files), its leaks are reported as a cold build's are: the site-level files' by
    path, then the sources' own files' by path."""
    out, cache = tmp_path / "site", tmp_path / "cache"
    ref = "tt_5550001113_zz"
    quiet = bench_content / "sources" / "bench-000001.yaml"
    quiet.write_text(quiet.read_text().replace("(preview)", f"(preview) see {ref}"), encoding="utf-8")
    named = bench_content / "sources" / "bench-000002.yaml"
    named.write_text(re.sub(r"(?m)^name: ", f"name: Zz {ref} ", named.read_text(), count=1), encoding="utf-8")
    build(bench_content, out, cache_dir=cache)
    doc = generate.source(2000)
    doc["external_accounts"][0]["ref"] = ref
    doc["context"] = f"Pasted {ref} here too."  # its own page, scanned as changed
    (bench_content / "sources" / "bench-002000.yaml").write_text(generate.dump(doc), encoding="utf-8")
    with pytest.raises(pipeline.LeakError) as failed:
        build(bench_content, out, cache_dir=cache)
    files = [leak.file for leak in failed.value.leaks]
    assert {"sources/bench-000001.html", "sources/bench-000002.html", "sources/bench-002000.html",
            "index.html", "sources.json"} <= set(files)
    with pytest.raises(pipeline.LeakError) as cold:
        build(bench_content, tmp_path / "cold", cache_dir=None)
    assert str(failed.value) == str(cold.value)


def test_a_rebuild_that_scans_for_added_canaries_and_streams_its_site_files_ends(tmp_path):
    """Two pools of scan workers at once from the one server (the unchanged files scanned for a
    new ref, the new site-level files as they are written): the first to end does not stop the
    server under the other's workers (it waited for them, and they for work: the build hung)."""
    import subprocess
    import yaml
    content = generate.write_content(tmp_path / "content", engine.PARALLEL_FROM + 40)
    out, cache = tmp_path / "site", tmp_path / "cache"
    script = (f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
              "from healthsite import engine, pipeline\n"
              "engine.STREAM_FROM = 20\n"
              f"pipeline.build(__import__('pathlib').Path({str(content)!r}), __import__('pathlib').Path({str(out)!r}), "
              f"cache_dir=__import__('pathlib').Path({str(cache)!r}), jobs=2)\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, capture_output=True)
    path = content / "sources" / "bench-000004.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["name"] = "Renamed " + doc["name"]  # its rows and sources.json: streamed
    doc["external_accounts"][0]["ref"] += "7"  # a new canary: every unchanged file scanned for it
    path.write_text(generate.dump(doc), encoding="utf-8")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, capture_output=True)
    assert_same_as_cold(content, out, tmp_path)


def _store_canaries(cache: Path) -> tuple[list[str], list[str]]:
    """The canary lines a build kept in its store, and its foreign names (canaries or shown)."""
    from healthsite.store import Store
    store = Store.open(cache)
    try:
        return list(store.canary_lines()), list(store.foreign_name_lines())
    finally:
        store.close()


def test_a_rebuild_that_changes_refs_alone_keeps_the_names_and_equals_a_cold_builds_canaries(bench_content, tmp_path,
                                                                                              monkeypatch):
    """A ref edited, or a source added or deleted that adds no foreign name and shows none,
    changes the refs alone: the names the site shows are not looked for again in every shown
    text, and the canaries kept are a cold build's. A source deleted whose text showed a foreign
    name makes that name a canary again."""
    import yaml

    from healthsite import resolve
    out, cache = tmp_path / "site", tmp_path / "cache"
    others = [i for i in range(40) if generate.source(i)["profile"] != "cyspera"]
    foreign = generate.source(others[0])["name"]
    shows = bench_content / "sources" / "bench-000000.yaml"
    shows.write_text(shows.read_text().replace("\ncontext: ", f"\ncontext: Compare with {foreign}. ", 1), encoding="utf-8")
    build(bench_content, out, cache_dir=cache)
    shown_names = resolve.shown_names
    scans: list[int] = []

    def counted(*args):
        scans.append(1)
        return shown_names(*args)
    monkeypatch.setattr(resolve, "shown_names", counted)

    def cold_canaries() -> tuple[list[str], list[str]]:
        shutil.rmtree(tmp_path / "cold-cache", ignore_errors=True)
        build(bench_content, tmp_path / "cold", cache_dir=tmp_path / "cold-cache")
        scans.clear()  # a cold build scans them
        return _store_canaries(tmp_path / "cold-cache")

    path = bench_content / "sources" / "bench-000004.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["external_accounts"][0]["ref"] = "tt_5550004444_zz"
    path.write_text(generate.dump(doc), encoding="utf-8")
    build(bench_content, out, cache_dir=cache)
    kept = _store_canaries(cache)
    assert scans == [] and '1"tt_5550004444_zz"\n' in kept[0]
    assert kept == cold_canaries()

    mine = next(i for i in range(5, 40) if i not in others)
    (bench_content / "sources" / f"bench-{mine:06d}.yaml").unlink()
    for step in ("delete", "add"):
        if step == "add":
            added = generate.shown_file(bench_content, 100)
            added.write_text(generate.dump(generate.source(int(added.stem.split("-")[1]))), encoding="utf-8")
        build(bench_content, out, cache_dir=cache)
        assert scans == [], step
        kept = _store_canaries(cache)
        assert kept == cold_canaries(), step

    assert f'0{json.dumps(foreign)}\n' not in kept[0]  # shown by bench-000000
    shows.unlink()
    build(bench_content, out, cache_dir=cache)
    kept = _store_canaries(cache)
    assert scans and f'0{json.dumps(foreign)}\n' in kept[0]
    assert kept == cold_canaries()
    assert_same_as_cold(bench_content, out, tmp_path)


def test_a_foreign_name_or_ref_with_a_nul_in_it_is_a_whole_canary(bench_content, tmp_path):
    """The store reads the sources' lists of refs and names whole: SQLite's json_each would end
    "Zq\\u0000 Hidden Brand" at the NUL, a name too short to be looked for."""
    others = [i for i in range(40) if generate.source(i)["profile"] != "cyspera"]
    path = bench_content / "sources" / f"bench-{others[0]:06d}.yaml"
    doc = generate.source(others[0])
    doc["external_accounts"][0]["name"] = "Zq\0 Hidden Brand"
    doc["external_accounts"][0]["ref"] = "tt_55\0_55566677"
    path.write_text(generate.dump(doc), encoding="utf-8")
    build(bench_content, tmp_path / "site", cache_dir=tmp_path / "cache")
    lines, names = _store_canaries(tmp_path / "cache")
    assert '0"Zq\\u0000 Hidden Brand"\n' in lines and '0"Zq\\u0000 Hidden Brand"\n' in names
    assert '1"tt_55\\u0000_55566677"\n' in lines
