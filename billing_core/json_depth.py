"""How deeply a JSON document nests, measured on its bytes before any parser sees it.

Python's json module recurses once per level: a body of 100,000 `[` would end in a RecursionError
(a 500) in the parser or in whatever walks the value next. Every JSON body an entrypoint reads is
checked here first, before authentication, and refused past MAX_DEPTH."""

from __future__ import annotations

MAX_DEPTH = 32
_KEEP = b'"[]{}'
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_QUOTE, _OPEN = ord('"'), (ord("["), ord("{"))


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether `body` opens more than `limit` arrays or objects inside each other (brackets inside
    strings do not count). Linear in the body, and it stops at the first level too many."""
    # Escaped backslashes first (they pair up left to right), then escaped quotes: what is left of
    # a quote opens or closes a string.
    kept = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _DROP)
    if kept.count(b"[") + kept.count(b"{") <= limit:
        return False
    depth, in_string = 0, False
    for byte in kept:
        if byte == _QUOTE:
            in_string = not in_string
        elif in_string:
            continue
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
