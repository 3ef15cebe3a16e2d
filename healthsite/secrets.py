"""What a credential looks like: key names and token shapes.

Shared by load (content scan, with file:line) and verify (scan of the written output).
Messages name the kind of secret, never its value.
"""
from __future__ import annotations

import re

# Key names that hold credentials. Matched on the key lower-cased with '-' and ' ' as '_'.
CREDENTIAL_KEY = re.compile(
    r"(?:^|_)(?:secret|client_secret|secret_key|token|access_token|refresh_token|id_token|auth_token|"
    r"bearer|api_?key|apikey|api_secret|password|passwd|passphrase|pwd|private_?key|credentials?|"
    r"session_?key|signing_key|webhook_secret|cookie)(?:$|_)"
)

# Token shapes, after the rule families of gitleaks and detect-secrets. Each: (kind, pattern).
TOKEN_RULES: list[tuple[str, str]] = [
    ("Shopify token", r"shp(?:at|ss|ca|pa)_[A-Za-z0-9]{4,}"),
    ("GitHub token", r"(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})"),
    ("GitLab token", r"glpat-[A-Za-z0-9_-]{16,}"),
    ("Stripe key", r"(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{16,}"),
    ("AWS access key", r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])"),
    ("Google API key", r"AIza[0-9A-Za-z_-]{30,}"),
    ("Google OAuth token", r"ya29\.[0-9A-Za-z_-]{20,}"),
    ("Slack token", r"xox[abposr]-[0-9A-Za-z-]{10,}|hooks\.slack\.com/services/T[A-Za-z0-9_/]+"),
    ("OpenAI key", r"sk-(?:proj-)?[A-Za-z0-9_-]{20,}"),
    ("npm token", r"npm_[A-Za-z0-9]{30,}"),
    ("SendGrid key", r"SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("Meta access token", r"EAA[A-Za-z0-9]{30,}"),
    ("JSON Web Token", r"eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"),
    ("private key", r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----"),
]

_TOKEN = re.compile("|".join(f"(?P<r{i}>{rule})" for i, (_, rule) in enumerate(TOKEN_RULES)))


def is_credential_key(key: str) -> bool:
    return bool(CREDENTIAL_KEY.search(key.lower().replace("-", "_").replace(" ", "_")))


def find_token(text: str) -> str | None:
    """The kind of the first token-shaped string in text, or None."""
    match = _TOKEN.search(text)
    if match is None:
        return None
    return TOKEN_RULES[int(match.lastgroup[1:])][0]


def find_tokens(text: str) -> list[tuple[int, str]]:
    """Every token-shaped string in text, as (offset, kind): never the value itself."""
    return [(m.start(), TOKEN_RULES[int(m.lastgroup[1:])][0]) for m in _TOKEN.finditer(text)]
