"""What a credential looks like: key names and token shapes.

Shared by load (content scan, with file:line) and verify (scan of the written output).
Messages name the kind of secret, never its value.
"""
from __future__ import annotations

import re

import ahocorasick_rs

# Key names that hold credentials. Matched on the key lower-cased with '-' and ' ' as '_'.
CREDENTIAL_KEY = re.compile(
    r"(?:^|_)(?:secret|client_secret|secret_key|token|access_token|refresh_token|id_token|auth_token|"
    r"bearer|api_?key|apikey|api_secret|password|passwd|passphrase|pwd|private_?key|credentials?|"
    r"session_?key|signing_key|webhook_secret|cookie)(?:$|_)"
)

# Token shapes, after the rule families of gitleaks and detect-secrets: (kind, literal prefixes, pattern).
# The prefixes let one Aho-Corasick pass find candidates; only those run the rule's regex, so a
# page with no candidate costs a single scan however many rules there are.
_AWS = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "A3T")
TOKEN_RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("Shopify token", ("shpat_", "shpss_", "shpca_", "shppa_"), r"shp(?:at|ss|ca|pa)_[A-Za-z0-9]{4,}"),
    ("GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
     r"(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})"),
    ("GitLab token", ("glpat-",), r"glpat-[A-Za-z0-9_-]{16,}"),
    ("Stripe key", ("sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_", "whsec_"),
     r"(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{16,}"),
    ("AWS access key", _AWS, r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])"),
    ("Google API key", ("AIza",), r"AIza[0-9A-Za-z_-]{30,}"),
    ("Google OAuth token", ("ya29.",), r"ya29\.[0-9A-Za-z_-]{20,}"),
    ("Slack token", ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "hooks.slack.com/services/T"),
     r"xox[abposr]-[0-9A-Za-z-]{10,}|hooks\.slack\.com/services/T[A-Za-z0-9_/]+"),
    ("OpenAI key", ("sk-",), r"sk-(?:proj-)?[A-Za-z0-9_-]{20,}"),
    ("npm token", ("npm_",), r"npm_[A-Za-z0-9]{30,}"),
    ("SendGrid key", ("SG.",), r"SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("Meta access token", ("EAA",), r"EAA[A-Za-z0-9]{30,}"),
    ("JSON Web Token", ("eyJ",), r"eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"),
    ("private key", ("-----BEGIN",), r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----"),
]
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
MIN_TOKEN = 10  # no rule matches fewer characters: shorter text need not be scanned


def _automaton() -> tuple[ahocorasick_rs.AhoCorasick, list[tuple[int, re.Pattern[str]]]]:
    """One automaton of every rule's prefixes, and for each prefix its rule and the rule's regex."""
    prefixes, rules = [], []
    for index, (_, starts, pattern) in enumerate(TOKEN_RULES):
        compiled = re.compile(pattern)
        for prefix in starts:
            prefixes.append(prefix)
            rules.append((index, compiled))
    return ahocorasick_rs.AhoCorasick(prefixes), rules


_PREFIXES, _PREFIX_RULES = _automaton()


# The same prefixes for a cheaper first look at bytes (the rendered pages): a page holds a token
# only if it holds a prefix at a word start, so a page without one need not be decoded or run
# through the automaton (the slowest step of the scan). One regex per anchor, a byte of the prefix
# that is rare in pages, so the regex engine's literal search runs ahead to it and only then looks
# behind it at the prefix; a quick look at the bytes just before comes first. Built from
# TOKEN_RULES, so a new rule is covered without further change.
_ANCHOR_ORDER = b"J_AG.-"  # rarest first; a prefix with none of these is anchored on its first byte
_NOT_WORD_BEFORE = rb"(?<![A-Za-z0-9_\-]"  # + the whole prefix + ")": the prefix starts a word


def _anchored() -> tuple[tuple[bytes, re.Pattern[bytes]], ...]:
    groups: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for _, prefixes, _ in TOKEN_RULES:
        for text in prefixes:
            prefix = text.encode("ascii")
            order = _ANCHOR_ORDER + prefix[:1]
            rank = min(order.index(b) for b in prefix if b in order)
            anchor = order[rank:rank + 1]
            at = prefix.index(anchor)
            groups.setdefault(anchor, []).append((prefix[:at + 1], prefix[at + 1:]))
    anchored = []
    for anchor, parts in groups.items():
        branches = [re.escape(tail) + (rb"(?<=%s)" % re.escape(head + tail) if len(head) > 1 else b"")
                    + _NOT_WORD_BEFORE + re.escape(head + tail) + b")" for head, tail in parts]
        width = min(3, *(len(head) for head, _ in parts))
        quick = b"" if width == 1 else (
            b"(?<=" + b"|".join(sorted({re.escape(head[-width:]) for head, _ in parts})) + b")")
        anchored.append((anchor, re.compile(re.escape(anchor) + quick + b"(?:" + b"|".join(branches) + b")")))
    return tuple(anchored)


_ANCHORED = _anchored()


def may_hold_token(data: bytes) -> bool:
    """False only if find_tokens finds nothing in the UTF-8 text of data, entity-unescaped or not,
    as long as data's only character references are &amp; &lt; &gt; &quot; &#34; &#39; (in any
    case): they stand for characters no token holds or starts after, and a token is ASCII."""
    return any(anchor in data and pattern.search(data) for anchor, pattern in _ANCHORED)


def is_credential_key(key: str) -> bool:
    return bool(CREDENTIAL_KEY.search(key.lower().replace("-", "_").replace(" ", "_")))


def find_tokens(text: str) -> list[tuple[int, str]]:
    """Every token-shaped string in text, as (offset, kind): never the value itself."""
    found: list[tuple[int, str]] = []
    covered = -1
    # Every prefix found, overlapping ones too, by where it ends (the longest first where several do).
    for prefix, start, end in sorted(_PREFIXES.find_matches_as_indexes(text, overlapping=True),
                                     key=lambda found: (found[2], found[1])):
        index, pattern = _PREFIX_RULES[prefix]
        if start < covered:
            continue
        # A token starts a word: "desk-booking-..." holds no OpenAI key, "network_test_..." no Stripe one.
        if start > 0 and text[start - 1] in _WORD:
            continue
        match = pattern.match(text, start)
        if match:
            found.append((start, TOKEN_RULES[index][0]))
            covered = match.end()
    return found


def find_token(text: str) -> str | None:
    """The kind of the first token-shaped string in text, or None."""
    found = find_tokens(text)
    return min(found)[1] if found else None


# Every rule as one regex, for redact() only: messages are short, so one pass is cheap.
_ANY_TOKEN = re.compile("|".join(f"(?:{rule[-1]})" for rule in TOKEN_RULES))


def redact(text: str) -> str:
    """text with every token-shaped string replaced: for messages that quote a name, a tag or a
    parser's words, which can hold a pasted token too (a secret is never repeated, not even in an error)."""
    return _ANY_TOKEN.sub("[redacted]", text)
