"""verify: the leak scan over the output, the second line behind resolve."""
from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from healthsite import pipeline, render, verify
from healthsite.views import Canaries

from .conftest import RAW_REFS, TEMPLATES, build, output_files, run_cli, tree_hash

CANARIES = Canaries(refs=frozenset({"tt_7123456789_fr", "zq7x"}), foreign_names=frozenset({"Northwind Meta Campaigns"}))


def scan(text: str) -> list[verify.Leak]:
    return verify.Scanner(CANARIES).scan_text("page.html", text)


def test_clean_text_has_no_leak():
    assert scan("<p>TikTok Ads France</p>\n<code>tt_•••_fr</code> •••7890 ••• 1000 rows") == []


def test_raw_ref_is_found_with_its_line():
    leaks = scan("<p>one</p>\n<p>two</p>\n<td>tt_7123456789_fr</td>\n")
    assert [(leak.file, leak.line) for leak in leaks] == [("page.html", 3)]
    assert "ref" in leaks[0].kind
    assert "tt_7123456789_fr" not in str(leaks[0])  # a finding never repeats the value


def test_escaped_raw_ref_is_found():
    assert scan("<td>tt&#95;7123456789&#95;fr</td>")


def test_short_ref_only_as_a_whole_word():
    assert scan("<td>zq7x</td>")
    assert scan("abczq7xdef") == []


def test_foreign_name_is_found():
    leaks = scan("<p>\nNorthwind Meta Campaigns</p>")
    assert len(leaks) == 1 and leaks[0].line == 2 and "another profile" in leaks[0].kind


def test_every_canary_is_found_where_canaries_overlap_and_a_ref_that_is_a_name_is_a_ref():
    scanner = verify.Scanner(Canaries(refs=frozenset({"act_42", "Acme 42", "cme"}),
                                      foreign_names=frozenset({"Acme 42", "Acme 42 Europe", "Zeta"})))
    leaks = scanner.scan_text("page.html", "Acme 42 Europe\nact_42\nZeta Acme 42\nxcmex\n(cme)")
    assert [(leak.line, "ref" in leak.kind) for leak in leaks] == [
        (1, False), (1, True), (2, True), (3, False), (3, True), (5, True)]  # "cme" only as a word
    assert verify.Scanner(Canaries(frozenset({""}), frozenset({""}))).scan_text("page.html", "any text") == []


@pytest.mark.parametrize("token", [
    "shpat_0123456789abcdef0123456789abcdef",
    "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "sk_live_51Habcdefghijklmnop",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
])
def test_token_shaped_string_is_found(token):
    leaks = verify.Scanner(Canaries(frozenset(), frozenset())).scan_text("x.html", f"a\nb {token} c")
    assert len(leaks) >= 1 and leaks[0].line == 2
    assert token not in str(leaks[0])


def test_scan_tree_reads_every_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text("fine", encoding="utf-8")
    (tmp_path / "sub" / "data.json").write_text('{"ref": "tt_7123456789_fr"}', encoding="utf-8")
    leaks = verify.scan_tree(tmp_path, CANARIES)
    assert [leak.file for leak in leaks] == ["sub/data.json"]


def test_built_site_passes_its_own_scan(minimal_site, content):
    from healthsite.load import load
    from healthsite.resolve import resolve
    canaries = resolve(load(content)).canaries
    assert set(RAW_REFS) <= canaries.refs
    assert verify.scan_tree(minimal_site, canaries) == []


@pytest.fixture
def leaky_templates(tmp_path):
    """A copy of templates/ whose source page prints a raw ref the view never gave it."""
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    page = folder / "source.html"
    text = page.read_text(encoding="utf-8")
    marker = "{% block main %}"
    assert marker in text
    page.write_text(text.replace(marker, marker + "\n<p>debug: tt_7123456789_fr</p>", 1), encoding="utf-8")
    return folder


def test_leaking_template_fails_the_build_and_keeps_the_old_output(content, tmp_path, leaky_templates):
    out = tmp_path / "site"
    build(content, out)
    before = tree_hash(out)
    siblings = sorted(p.name for p in out.parent.iterdir())

    with pytest.raises(pipeline.LeakError) as info:
        build(content, out, templates=leaky_templates)
    assert any(leak.file.startswith("sources/") for leak in info.value.leaks)
    assert tree_hash(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == siblings

    result = run_cli("build", "--content", content, "--out", out, "--templates", leaky_templates)
    assert result.exit_code == 1
    assert "leak scan" in result.output
    assert "tt_7123456789_fr" not in result.output
    assert tree_hash(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == siblings


def test_leak_into_an_empty_output_writes_nothing(content, tmp_path, leaky_templates):
    out = tmp_path / "site"
    with pytest.raises(pipeline.LeakError):
        build(content, out, templates=leaky_templates)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["content", "templates"])


def test_templates_copy_without_the_leak_builds_the_same_site(content, tmp_path):
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    a, b = tmp_path / "a", tmp_path / "b"
    build(content, a)
    build(content, b, templates=folder)
    assert tree_hash(a) == tree_hash(b)
    assert len(output_files(a)) >= 5


def test_a_large_file_is_scanned_in_pieces_with_the_same_findings(tmp_path):
    """sources.json of thousands of sources is read in overlapping pieces: a ref on the boundary
    between two pieces, and the line numbers, come out as a whole-file scan gives them."""
    from healthsite import verify, views
    lines = [f"line {i} " + "x" * 30 for i in range(40000)]
    lines[20000] = "here tt_7123456789_fr is"
    lines[39999] = "and shpat_abcdef123456 end"
    text = "\n".join(lines)
    cut = verify._PIECE - 5
    text = text[:cut] + " tt_5555555555_zz " + text[cut:]
    path = tmp_path / "big.json"
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size > verify._PIECE
    scanner = verify.Scanner(views.Canaries(frozenset({"tt_7123456789_fr", "tt_5555555555_zz"}), frozenset()))
    pieces = scanner.scan_file(path, "big.json")
    whole = scanner.scan_text("big.json", text)
    assert [(leak.line, leak.kind) for leak in pieces] == [(leak.line, leak.kind) for leak in whole]
    assert [leak.line for leak in pieces] == [20001, text[:text.index("tt_5555555555_zz")].count("\n") + 1, 40000]


def test_markup_the_parser_cannot_read_is_a_finding_not_a_traceback():
    """html.parser asserts on a broken declaration; the scan reports it with the rest."""
    kinds = {leak.kind for leak in verify.shape_leaks("sources/x.html", b"<p><script>x</script><![\x00</p>")}
    assert kinds == {"active content (a <script> element)", "markup the HTML parser cannot read"}



_CANARY_PIECES = ["tt_7123456789_fr", "zq7x", "Northwind Meta Campaigns", "O'Brien Ads", "a&b", "amp", "39",
                  "#39;B", "Brien", "amp;fo", "lt", "x\nZ", "é·x"]
_PAGE_PIECES = [c.encode() for c in _CANARY_PIECES] + [
    b"&amp;", b"&lt;", b"&gt;", b"&#39;", b"&#34;", b"&#95;", b"&#10;", b"&ampx", b"&quot;", b"&", b";", b"'",
    b"\n", b" ", b"-", b"_", "é".encode(), "·".encode(), b"x", b"Z", b"fo", b"\xff", b"\xe2\x80", b"\xed\xa0\x80"]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(canaries=st.lists(st.sampled_from(_CANARY_PIECES), min_size=1, max_size=4),
       pieces=st.lists(st.sampled_from(_PAGE_PIECES), max_size=30))
def test_a_page_scanned_in_its_bytes_gives_what_its_text_gives(tmp_path, canaries, pieces):
    """A page whose references are only the escaper's five is scanned for canaries in its raw
    bytes, without decoding and unescaping it: the same findings at the same lines as scan_text
    over its text as shown, whatever the canaries, references and bytes (invalid UTF-8 too), and
    whether or not the page is known to read as shown."""
    refs = frozenset(c for i, c in enumerate(canaries) if i % 2 == 0)
    scanner = verify.Scanner(Canaries(refs=refs, foreign_names=frozenset(canaries) - refs))
    data = b"".join(pieces)
    path = tmp_path / "page.html"
    path.write_bytes(data)
    expected = scanner.scan_text("page.html", data.decode("utf-8", errors="replace"), shapes=False)
    assert scanner.scan_file(path, "page.html", shapes=False) == expected
    assert scanner.scan_file(str(path), "page.html", shapes=False) == expected
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if verify.reads_as_shown(data):  # as the build knows of a page it made: not checked again
        assert scanner.scan_file(path, "page.html", shapes=False, as_shown=True) == expected


def test_a_page_of_plain_references_is_scanned_in_its_bytes(tmp_path, monkeypatch):
    """The bytes are enough for the pages a build writes; a canary with a quote, or a page with
    another reference, goes through the text."""
    path = tmp_path / "page.html"
    path.write_bytes("<p>Northwind Meta Campaigns &amp; tt_7123456789_fr &#39; ·</p>\n".encode())
    texts = []
    monkeypatch.setattr(verify.Scanner, "scan_text", lambda self, *args: texts.append(args) or [])
    assert len(verify.Scanner(CANARIES).scan_file(path, "page.html", shapes=False)) == 2 and texts == []
    verify.Scanner(Canaries(refs=frozenset({"O'Brien"}), foreign_names=frozenset())).scan_file(path, "page.html", shapes=False)
    path.write_bytes(b"<p>tt&#95;7123456789&#95;fr</p>")
    verify.Scanner(CANARIES).scan_file(path, "page.html", shapes=False)
    assert len(texts) == 2


def _every_canary_by_find(refs: set[str], names: set[str], data: bytes) -> list[tuple[int, str]]:
    """What the scan must find, the slow way: every place of every canary by bytes.find, a place
    both a ref's and a name's a ref, a short ref (under 8 bytes) only where no letter, digit, "_"
    or "-" is beside it."""
    spans: dict[tuple[int, int], tuple[bool, bool]] = {}
    for text, ref in [(n, False) for n in names] + [(r, True) for r in refs]:
        word = text.encode()
        at = data.find(word) if word else -1
        while at >= 0:
            was_ref, was_short = spans.get((at, at + len(word)), (False, False))
            spans[at, at + len(word)] = (was_ref or ref, was_short or (ref and len(word) < 8))
            at = data.find(word, at + 1)
    word_bytes = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    found = set()
    for (start, end), (ref, short) in spans.items():
        if short and ((start and data[start - 1] in word_bytes) or (end < len(data) and data[end] in word_bytes)):
            continue
        found.add((data.count(b"\n", 0, start) + 1, "ref" if ref else "name"))
    return sorted(found)


# Canaries that share their first 8 bytes, or are those 8 bytes, or fewer, or one inside another.
_ALIKE = st.builds(str.__add__, st.sampled_from(["", "", "tt_71000", "tt_7100", "tt_7100\n"]),
                   st.text(alphabet="ab_1\n", max_size=8)).filter(bool)


@settings(max_examples=400, deadline=None)
@example(refs={"tt_71000a", "tt_71000ab_"}, names={"tt_71000ab"}, page=["tt_71000a\n", "tt_71000ab", "x"])
@given(refs=st.sets(_ALIKE, max_size=6), names=st.sets(_ALIKE, max_size=4),
       page=st.lists(st.one_of(_ALIKE, st.sampled_from(["-", " ", "x", "\n"])), max_size=20))
def test_the_scan_finds_every_canary_that_bytes_find_finds(refs, names, page):
    """The automaton holds only the first 8 bytes of a canary, and a longer one is checked by its
    hash where those are found: every place of every canary is still found, and nothing else, for
    canaries that begin alike, end alike, hold one another, or are both a ref and a name."""
    data = "".join(page).encode()
    scanner = verify.Scanner(Canaries(refs=frozenset(refs), foreign_names=frozenset(names)))
    found = [(leak.line, "ref" if "ref" in leak.kind else "name") for leak in scanner.scan_text("page.html", data.decode(), shapes=False)]
    assert found == _every_canary_by_find(refs, names, data)
    lines = [f"{kind}{json.dumps(text)}\n" for kind, texts in (("0", names), ("1", refs))
             for text in sorted(texts, key=str.encode)]
    assert verify.Scanner.from_lines(lines).scan_text("page.html", data.decode(), shapes=False) == \
        scanner.scan_text("page.html", data.decode(), shapes=False)
    dfa_up_to, verify._DFA_UP_TO = verify._DFA_UP_TO, 0  # the NFA, as for more than a thousand anchors
    try:
        nfa = verify.Scanner(Canaries(refs=frozenset(refs), foreign_names=frozenset(names)))
    finally:
        verify._DFA_UP_TO = dfa_up_to
    assert nfa.scan_text("page.html", data.decode(), shapes=False) == scanner.scan_text("page.html", data.decode(), shapes=False)


def test_canaries_of_many_beginnings_are_found_as_those_of_a_few():
    """Up to _DFA_UP_TO anchors the automaton is a DFA, beyond that an NFA (a DFA of hundreds
    of thousands of anchors would be large): both find every canary, each at its line."""
    refs = sorted(f"{i:04d}{'xyzw'[i % 4]}_ref_{i}" for i in range(verify._DFA_UP_TO + 200))
    names = ["Account 17 FR", "Zeta"]
    page = "\n".join(["nothing here"] + refs[::97] + ["Account 17 FR", "-Zeta-", "0003w_ref_3x"])
    many = verify.Scanner(Canaries(refs=frozenset(refs), foreign_names=frozenset(names)))
    assert [leak.line for leak in many.scan_text("page.html", page, shapes=False)] == \
        [line for line, _ in _every_canary_by_find(set(refs), set(names), page.encode())]
    assert len(many.scan_text("page.html", page, shapes=False)) == len(refs[::97]) + 3


def test_canaries_out_of_order_are_refused():
    """Lines not in the store's order (names, then refs, each by their bytes) could hand the
    automaton one anchor thousands of times: a scanner is never made of them."""
    with pytest.raises(ValueError, match="order"):
        verify.Scanner.from_lines(['1"tt_7123456789_fr"\n', '1"tt_7123456788_fr"\n'])
    with pytest.raises(ValueError, match="order"):  # a name after a ref
        verify.Scanner.from_lines(['0"Zeta"\n', '1"tt_7123456788_fr"\n', '0"Zeta Europe"\n'])
    verify.Scanner.from_lines(['0"Zeta"\n', '1"tt_7123456788_fr"\n', '1"tt_7123456789_fr"\n'])


def test_canaries_of_one_beginning_are_one_anchor():
    """Refs of one platform begin alike: however many, they are one anchor in the automaton (its
    memory stays flat), each found on its own."""
    refs = frozenset(f"tt_{7100000000 + 7 * i}_fr" for i in range(5000))
    scanner = verify.Scanner(Canaries(refs=refs, foreign_names=frozenset()))
    assert len(scanner.longer) <= 10
    assert [leak.line for leak in scanner.scan_text("page.html", "tt_7100000007_fr\ntt_7100000008_fr\ntt_7100034993_fr")] == [1, 3]


def test_the_table_of_hashes_keeps_every_hash_through_collisions_and_growth():
    """Hashes that want the same slot each get one; one hash added as a name and as a ref is a
    ref; growing the table keeps them all; a hash never added is not there."""
    table = verify._Hashes(size=8)
    same_slot = [(n << 6) | (1 << 3) for n in range(1, 40)]  # the same low bits: one slot wanted
    table.add(same_slot[0], 1)
    for digest in same_slot:
        table.add(digest, 0)
    assert table.flags(same_slot[0]) == 1 and all(table.flags(d) == 0 for d in same_slot[1:])
    assert table.count == len(same_slot) and 2 * table.count <= len(table.slots)
    assert table.flags(-same_slot[1]) is None and table.flags(1 << 40) is None


_ROW_PIECES = ["tt_7123456789_fr", "zq7x", "Northwind Meta Campaigns", "O'Brien", "&amp;", "&#39;", "&lt;", "&#10;",
               "&", ";", "'", '"', "=", " ", "\n", "\t", "on", "click", "javascript", ":", "<script>", "<b ", "</b>",
               "ghp_" + "a1" * 10, "sk-", "A" * 22, "x", "-", "_", "equiv", "refresh", "é", ">", "<", "srcdoc", "{", "}", ","]
_ROW_TEXT = st.lists(st.sampled_from(_ROW_PIECES), max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(before=_ROW_TEXT, after=_ROW_TEXT, rows=st.lists(_ROW_TEXT, max_size=5), data=st.data())
def test_what_a_site_level_file_holds_its_parts_hold(before, after, rows, data):
    """A rebuild scans a dashboard page or sources.json as its parts (render._Ends.outside: the
    text outside its rows, each part with the row beside it) and its rows (engine._scan_parts):
    whatever a scan of the whole file finds (canaries, token shapes, active content), the parts
    are not clean, if no canary holds a newline, begins with a space or ends with a comma (the
    build scans the files whole otherwise) and every row of a page begins with < and ends with >
    (the renderer gives no parts otherwise). Canaries are cut from the file itself too, across
    two rows or a row and the text beside it."""
    for page, joined, rows_of in (("index.html", "\n      ", ["<" + row + ">" for row in rows]),
                                  ("sources.json", ",\n", ["{" + row + "}" for row in rows])):
        text = before + joined.join(rows_of) + after
        cuts = data.draw(st.lists(st.tuples(st.integers(0, len(text)), st.integers(1, 24)), max_size=3))
        canaries = {text[at:at + size] for at, size in cuts} | set(data.draw(st.lists(st.sampled_from(_CANARY_PIECES),
                                                                                       max_size=2)))
        # as Store.canary_may_cross_rows has them: else the build scans the files whole
        canaries = {c for c in canaries if c and "\n" not in c and not c.startswith(" ") and not c.endswith(",")}
        refs = frozenset(c for c in canaries if len(c) % 2)
        scanner = verify.Scanner(Canaries(refs=refs, foreign_names=frozenset(canaries) - refs))
        found = scanner.scan_text(page, text) + (verify.active_content(page, text) if page.endswith(".html") else [])
        ends = render._Ends()
        if rows_of:
            ends.add(rows_of)
        parts = ends.outside(before, after) + rows_of
        verify.scanner_for(f"parts-{id(scanner)}", lambda: scanner)
        clean = verify.parts_clean(f"parts-{id(scanner)}", *((parts, []) if page.endswith(".html") else ([], parts)))
        assert not (found and clean), (page, text, canaries, found)


_TEXT_PIECES = [c for c in _CANARY_PIECES if "\n" not in c] + [
    "&amp;", "&lt;", "&#39;", "&#34;", "&#95;", "&#x74;t_7", "&eacute;", "&quot;", "&", ";", "'", "<b>", "\n", " ",
    "-", "_", "é", "·", "x", "Z", "fo", "7123", "\ud800"]


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.sampled_from(_TEXT_PIECES), max_size=12), data=st.data())
def test_a_canary_a_file_holds_has_each_of_its_words_in_the_files_words(pieces, data, tmp_path_factory):
    """A rebuild reads an unchanged file again for a new canary only if each of its words is in
    one of those the store keeps of the sources' files (verify.words_of, may_hold): whatever the
    scan of a file for a canary (scan_file, as the rebuild scans it) finds there, may_hold says
    it may be there. Canaries are cut from the text as shown too, and the file's bytes read as
    shown or not (references other than an escaper's five)."""
    import html
    data_bytes = "".join(pieces).encode("utf-8", "surrogatepass")
    shown = html.unescape("".join(pieces))
    cuts = data.draw(st.lists(st.tuples(st.integers(0, len(shown)), st.integers(1, 24)), max_size=3))
    canaries = {shown[at:at + size] for at, size in cuts} | set(_CANARY_PIECES)
    path = tmp_path_factory.mktemp("words") / "page.html"
    path.write_bytes(data_bytes)
    as_shown = verify.reads_as_shown(data_bytes)
    words = b"\n".join(verify.words_of(data_bytes, as_shown))
    for canary in filter(None, canaries):
        for refs, names in (({canary}, set()), (set(), {canary})):
            scanner = verify.Scanner(Canaries(refs=frozenset(refs), foreign_names=frozenset(names)))
            if scanner.scan_file(path, "page.html", shapes=False, as_shown=as_shown):
                assert verify.may_hold(words, canary), (pieces, canary)


def test_a_canary_with_a_word_no_file_holds_is_in_none():
    words = b"\n".join(verify.words_of("<td>Account tt_•••_fr</td> &amp; O&#39;Brien".encode(), True))
    assert verify.may_hold(words, "tt_")  # a part of one
    assert verify.may_hold(words, "Brien Account")  # each word in one, not the canary
    assert verify.may_hold(words, "•••")  # no word to look up
    assert not verify.may_hold(words, "tt_7123456789_fr")
    assert not verify.may_hold(words, "Account Zed")
