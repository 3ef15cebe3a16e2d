"""The per-page shape scan (verify.shape_leaks) reads bytes and only decodes, unescapes and parses a
page its cheap first looks flag. Those first looks must never hide what the full scan finds:
tokens behind character references, active content in any case or spacing, and the cases the
older text pre-filter missed (<frameset>, white space inside a URL scheme, attributes split by
what the parser counts as white space, http-equiv==refresh).
"""
from __future__ import annotations

import html
import re

import pytest

from healthsite import secrets, verify

from .helpers import fake, tokens

PAGE = "<!doctype html>\n<html lang=\"en\">\n<body>\n<p>Plain &amp; safe &lt;text&gt; it&#39;s &#34;fine&#34;</p>\n{}\n</body>\n</html>\n"


def kinds(name: str, insert: str) -> list[tuple[int, str]]:
    return [(leak.line, leak.kind) for leak in verify.shape_leaks(name, PAGE.format(insert).encode("utf-8"))]


def exact_tokens(data: bytes) -> list[tuple[int, str]]:
    """What the scan promises for tokens: every one in the decoded, unescaped text."""
    text = data.decode("utf-8", errors="replace")
    text = html.unescape(text) if "&" in text else text
    return [(text.count("\n", 0, offset) + 1, f"a {kind}") for offset, kind in secrets.find_tokens(text)]


ACTIVE = {
    "frameset": ("<frameset rows=\"*\"></frameset>", "active content (a <frameset> element)"),
    "script-upper": ("<SCRIPT>x</SCRIPT>", "active content (a <script> element)"),
    "script-slash": ("<script/src=x></script>", "active content (a <script> element)"),
    "iframe": ("<iframe src=x></iframe>", "active content (a <iframe> element)"),
    "form": ("<form action=x></form>", "active content (a <form> element)"),
    "js-url": ("<a href=\"javascript:x\">a</a>", "active content (a script or data URL in href)"),
    "js-url-entity": ("<a href=\"&#106;avascript:x\">a</a>", "active content (a script or data URL in href)"),
    "js-url-entity-tab": ("<a href=\"java&#x09;script:x\">a</a>", "active content (a script or data URL in href)"),
    "js-url-named-entity": ("<a href=\"javascript&colon;x\">a</a>", "active content (a script or data URL in href)"),
    "js-url-tab-inside": ("<a href=\"javas\tcript:x\">a</a>", "active content (a script or data URL in href)"),
    "js-url-newline-inside": ("<a href=\"JaVaScR\nIpT:x\">a</a>", "active content (a script or data URL in href)"),
    "vbscript-cr-inside": ("<a href=\"vb\rscript:x\">a</a>", "active content (a script or data URL in href)"),
    "data-url-split": ("<img src=\"d\na\tta:image/svg+xml,x\">", "active content (a script or data URL in src)"),
    "data-url-space-before-colon": ("<img src=\"data :x\">", "active content (a script or data URL in src)"),
    "xlink": ("<svg><a xlink:href=\"javascript:x\">a</a></svg>", "active content (a script or data URL in xlink:href)"),
    "svg-onload": ("<svg/onload=x>", "active content (an onload event handler)"),
    "handler-after-quote": ("<p title=\"a\"onclick=\"x\">a</p>", "active content (an onclick event handler)"),
    "handler-upper-spaced": ("<p ONCLICK \n = \"x\">a</p>", "active content (an onclick event handler)"),
    "handler-after-vtab": ("<p title=x\x0bonclick=x>a</p>", "active content (an onclick event handler)"),
    "handler-after-nbsp": ("<p title=x\u00a0onclick=x>a</p>", "active content (an onclick event handler)"),
    "srcdoc": ("<iframe srcdoc=\"x\"></iframe>", "active content (a srcdoc attribute)"),
    "meta-refresh": ("<meta http-equiv=\"Refresh\" content=\"0\">", "active content (a http-equiv attribute)"),
    "meta-refresh-double-equals": ("<meta http-equiv==refresh content=0>", "active content (a http-equiv attribute)"),
}


@pytest.mark.parametrize("case", ACTIVE)
@pytest.mark.parametrize("name", ["sources/x.html", "badges/x.svg"])
def test_active_content_is_found_whatever_the_spelling(case, name):
    insert, kind = ACTIVE[case]
    found = kinds(name, insert)
    assert (5, kind) in found, found


def test_active_content_is_not_looked_for_outside_pages():
    assert kinds("sources.json", "<script>x</script>") == []


@pytest.mark.parametrize("family", sorted(tokens("shape")))
@pytest.mark.parametrize("wrap", [
    "{}", "<p>{}</p>", "x {}", "&lt;{}&gt;", "&#39;{}&#39;", "&quot;{}&quot;", "&amp;{}", "<a href=\"{}\">",
    "é{}", "\u00a0{}", "{}&amp;", "\n\n{}",
])
def test_tokens_are_found_in_any_markup(family, wrap):
    data = PAGE.format(wrap.format(html.escape(tokens("shape")[family], quote=False))).encode("utf-8")
    expected = exact_tokens(data)
    assert expected, "the case holds a token"
    found = [(leak.line, leak.kind) for leak in verify.shape_leaks("sources/x.html", data)]
    assert found == sorted(set(expected)), (family, wrap)


def _entity(char: str, style: int) -> str:
    return (f"&#{ord(char)};", f"&#x{ord(char):X};", f"&#{ord(char)}", html.escape(char))[style]


@pytest.mark.parametrize("family", sorted(tokens("entity")))
@pytest.mark.parametrize("at", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("style", [0, 1, 2])
def test_tokens_behind_character_references_are_found(family, at, style):
    """A prefix spelled with a character reference is a token to a browser, and to the scan."""
    token = tokens("entity")[family]
    at = min(at, len(token) - 1)
    spelled = token[:at] + _entity(token[at], style) + token[at + 1:]
    if style == 2 and at + 1 < len(token) and token[at + 1].isdigit():
        spelled = token[:at] + _entity(token[at], 0) + token[at + 1:]  # &#115 then a digit is another number
    data = PAGE.format(f"<p>{spelled}</p>").encode("utf-8")
    expected = exact_tokens(data)
    assert expected
    assert [(leak.line, leak.kind) for leak in verify.shape_leaks("badges/x.svg", data)] == sorted(set(expected))


def test_a_token_prefix_not_at_a_word_start_is_no_token():
    token = tokens("word")["github_ghp"]
    assert kinds("sources/x.html", f"<p>x{token}</p>") == []
    assert kinds("sources/x.html", f"<p>-{token}</p>") == []
    assert kinds("sources/x.html", f"<p>&amp;x{token}</p>") == []


def test_every_prefix_is_looked_for():
    """The bytes pre-check is built from TOKEN_RULES: each prefix at a word start is a candidate."""
    for _, prefixes, _ in secrets.TOKEN_RULES:
        for prefix in prefixes:
            for before in ("", " ", "\n", ";", "\"", "é"):
                assert secrets.may_hold_token((before + prefix).encode("utf-8")), (before, prefix)
            assert not secrets.may_hold_token(("x" + prefix).encode("utf-8")) or any(
                p != prefix and p in "x" + prefix for _, ps, _ in secrets.TOKEN_RULES for p in ps), prefix


def test_unicode_lowercase_and_space_tricks_match_the_text_rules():
    """Kelvin sign and dotted capital I lower-case to ASCII letters; Unicode white space is \\s to
    the parser. The bytes pre-filter knows each of them."""
    assert set(verify._UNICODE_SPACE) == {c for c in range(0x80, 0x110000) if re.match(r"\s", chr(c))}
    assert [c for c in range(0x80, 0x110000) if any(ord(x) < 0x80 for x in chr(c).lower())] == [0x130, 0x212A]
    assert verify._suspect("<p on\u212aeydown=x>")
    assert verify._suspect("&\u212a;") and verify._suspect("&\u0130;")
    assert verify._suspect("<p onclick\u3000=x>")
    assert verify._suspect("javascript\u2003:x")
    assert not verify._suspect(PAGE)


def test_a_fake_token_spelled_with_pieces_is_still_a_token():
    """The pieces helper builds real shapes (guards the cases above against a vacuous pass)."""
    token = fake("gh", "p_", "Q7w3Zx9Lm2Kp8Rt4Vn6Yb1Hc5Jd0Fg")
    assert secrets.find_token(token) == "GitHub token"
