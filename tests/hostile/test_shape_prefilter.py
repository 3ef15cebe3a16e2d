"""The first look of the per-page shape scan (verify._may_leak) decides that a page is not even
lower-cased: it must say "maybe" wherever the prefilters behind it would, and so wherever the exact
checks (the parse, find_tokens on the unescaped text) find something. Checked on generated pages:
hostile fragments and random bytes put together in any order.
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings, strategies as st

from healthsite import secrets, verify

from .helpers import fake, tokens
from .test_shape_scan_speed import ACTIVE, PAGE

BODY = fake("Q7w3Zx9L", "m2Kp8Rt4", "Vn6Yb1Hc", "5JD0FGAB", "CDEFGHIJ")  # 40 characters
SPACES = ["\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2003", "\u2028", "\u202f", "\u3000"]


def spellings(word: str) -> list[str]:
    return [word, word.upper(), word.title(), "".join(c.upper() if i % 2 else c for i, c in enumerate(word))]


def _fragments() -> list[str]:
    out = [insert for insert, _ in ACTIVE.values()]
    for name in ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form"):
        out += [f"<{spelt}{end}" for spelt in spellings(name) for end in (">", " x>", "/", "\n", "")]
    for sep in [" ", "\t", "\n", "\r", "/", '"', "'", *SPACES]:
        for name in ("onclick", "ONLOAD", "oNmouseover", "On\u212aeydown", "onx", "on\u0130nput"):
            out += [f"<p{sep}{name}{space}=x>" for space in ("", " ", "\n", "\u3000", "\xa0\u2009")]
    out += [f"<p {spelt}=x>" for spelt in spellings("srcdoc")] + ["srcdoc", "srcdOc", "SRCDOC"]
    for spelt in spellings("refresh"):
        out += [f"<meta http-equiv{a}={b}{q}{spelt}{q}>" for a in ("", " ", "\u3000") for b in ("", "=", " ", "\n")
                for q in ("", '"', "'")]
        out += [f"<meta HTTP-EQUIV = {spelt}>", f"equiv={spelt}"]
        out += [f"<meta http-equiv={q}{space}{spelt}>" for q in ("", "'", '"') for space in ["\t", "\n", " ", *SPACES]]
    for scheme in ("javascript", "vbscript", "data"):
        for spelt in spellings(scheme):
            for gap in ("", "\t", "\n", "\x00", "\x7f", " ", "\x01"):
                broken = spelt[:2] + gap + spelt[2:-1] + gap + spelt[-1]
                for before_colon in ("", " ", "\t", "\u2003", "\xa0"):
                    out += [f'<a href="{broken}{before_colon}:x">', f"<img src={gap}{broken}{before_colon}:x>"]
        out += [f'<a href="&#{ord(scheme[0])};{scheme[1:]}:x">', f'<a href="{scheme}&colon;x">',
                f'<svg><a xlink:href="{scheme[:3]}&#x09;{scheme[3:]}:x">', f"{scheme}:", f"{scheme} :"]
    out += ["ta:", "TA:", "pt:", "PT:", " :", "\t:", "\xa0:", "A:", "\x7f:", "t\x01:", "a\x00:", "tA:", "pA:"]
    out += ["&#106;", "&colon;", "&AMP;", "&Amp;", "&LT;", "&gt;", "&QUOT;", "&#34;", "&#39;", "&#x27;", "&amp",
            "&", "&\u212a;", "&\u0130;", "&#", "&#X", "&nbsp;", "&Tab;", "&q", "&G"]
    for value in tokens("prefilter").values():
        out += [value, html.escape(value), f"<p>{value}</p>"]
    for _, prefixes, _ in secrets.TOKEN_RULES:
        for prefix in prefixes:
            for before in ("", " ", "\n", ";", '"', "\xe9", ">", "(", "x", "-", "_", "&lt;", "&amp;", "9", "A"):
                out += [before + prefix, before + prefix + BODY]
            out += [f"&#{ord(prefix[0])};{prefix[1:]}{BODY}", f"{prefix[:-1]}&#x{ord(prefix[-1]):x};{BODY}"]
    return out


FRAGMENTS = _fragments()
FILLER = "".join([" <>/=\"'&;:#-_.!?()\t\n\r\x00\x01\x7f", "abcdeghijklmnopqrstuvwxyz", "ABCEGJKOQ0123456789",
                  "\xa0\u212a\u0130\u3000\xe9\u20ac\xb7\u2014\u203a"])
pieces = st.one_of(st.sampled_from(FRAGMENTS).map(lambda s: s.encode("utf-8")),
                   st.text(alphabet=FILLER, max_size=12).map(lambda s: s.encode("utf-8")),
                   st.binary(max_size=6))
HEAD, TAIL = (part.encode("utf-8") for part in PAGE.split("{}"))
pages = st.builds(lambda around, parts: (HEAD if around else b"") + b"".join(parts) + (TAIL if around else b""),
                  st.booleans(), st.lists(pieces, min_size=1, max_size=8))
generated = settings(max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def prefilters(data: bytes, page: bool) -> bool:
    """What shape_leaks looked at before the first look was put in front of it."""
    low = data.lower()
    odd = b"&" in data and bool(verify._ODD_ENTITY.search(low))
    return odd or secrets.may_hold_token(data) or (page and verify._suspect_lower(low, odd))


class _Handlers(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.names: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.names += [(attr, value) for attr, value in attrs if attr.startswith("on")]

    handle_startendtag = handle_starttag


def exact(name: str, data: bytes, page: bool) -> list[verify.Leak] | None:
    """Everything the exact checks find, or None where the prefilters never looked (handlers with
    no "=" or a name other than on[a-z]+: harmless to a browser, and not reported before either)
    or the parser cannot go."""
    text = data.decode("utf-8", errors="replace")
    found = verify._tokens(name, html.unescape(text) if "&" in text else text)
    if page:
        handlers = _Handlers()
        try:
            handlers.feed(text)
            handlers.close()
        except AssertionError:  # html.parser gives up on some broken declarations ("<![x"), as _parse does
            return None
        if any(value is None or not re.fullmatch(r"on[a-z]+", attr) for attr, value in handlers.names):
            return None
        found += verify._parse(name, text)
    return sorted(set(found), key=lambda leak: (leak.line, leak.kind))


@generated
@given(pages, st.booleans())
def test_the_first_look_says_maybe_wherever_a_prefilter_would(data, page):
    assert verify._may_leak(data, page) or not prefilters(data, page)


@generated
@given(pages, st.sampled_from(["sources/x.html", "badges/x.svg", "sources.json"]))
def test_shape_leaks_finds_what_the_exact_checks_find(data, name):
    expected = exact(name, data, name.endswith((".html", ".svg")))
    if expected is not None:
        assert verify.shape_leaks(name, data) == expected


def test_every_fragment_alone_and_in_a_page():
    for fragment in FRAGMENTS:
        for data in (fragment.encode("utf-8"), PAGE.format(fragment).encode("utf-8")):
            for page in (True, False):
                assert verify._may_leak(data, page) or not prefilters(data, page), (fragment, page)


def test_every_token_prefix_at_a_word_start_is_a_maybe():
    for _, prefixes, _ in secrets.TOKEN_RULES:
        for prefix in prefixes:
            for before in ("", " ", "\n", ";", '"', "\xe9", "\x01", "<"):
                assert verify._may_leak((before + prefix).encode("utf-8"), False), (before, prefix)


def test_a_plain_page_is_no_maybe():
    """The point of the first look: a page without any of it is not lower-cased, decoded or parsed."""
    assert not verify._may_leak(PAGE.format("<p>Plain text, a time 16:31, a-b_c. data. script.</p>").encode(), True)
