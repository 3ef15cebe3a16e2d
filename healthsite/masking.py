"""How an external account ref is shown: never whole, never revealing its length."""
from __future__ import annotations

import re

MASK = "•••"
_LAST_SEGMENT = re.compile(r"^(?P<middle>.+)(?P<tail>[_-][A-Za-z0-9]{1,4})$")


def mask_ref(ref: str, prefix: str) -> str:
    """`tt_7123456789_fr` -> `tt_•••_fr`; otherwise at most the last 4 characters; short -> `•••`.

    The mask has a fixed width, so two refs of different lengths and one shape look alike.
    """
    if len(ref) < 8:
        return MASK
    if prefix and ref.startswith(prefix):
        match = _LAST_SEGMENT.match(ref[len(prefix):])
        if match:
            return f"{prefix}{MASK}{match['tail']}"
    return MASK + ref[-4:]
