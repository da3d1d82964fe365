"""Identifiers made on the terminal: ULIDs for records, tracking codes for citizens.

ULIDs sort by time and carry 80 random bits, so two offline terminals never
collide. Tracking codes are short enough to read aloud at a counter and carry
a check character that catches any single mistyped character.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(CROCKFORD)}
# Crockford's reading rules: letters people confuse with digits.
_DECODE.update({"O": 0, "I": 1, "L": 1})


def ulid(now_ms: int | None = None, random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A 26-character ULID: 48-bit milliseconds then 80 random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(random_bytes(10), "big")
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -5, -5))


def is_ulid(text: str) -> bool:
    return len(text) == 26 and all(c in CROCKFORD for c in text) and text[0] <= "7"


def _times_alpha(x: int) -> int:
    """Multiply by the generator in GF(32) (polynomial x^5 + x^2 + 1)."""
    x <<= 1
    return x ^ 0b100101 if x & 0b100000 else x


def _check_char(body: str) -> str:
    """Damm check over GF(32): x*y = 2x + y is a totally anti-symmetric
    quasigroup, so the check catches every single mistyped character and every
    swap of two adjacent characters, while staying inside the base32 alphabet
    (Crockford's own mod-37 check symbols include * ~ $ = which citizens cannot
    type, and Luhn mod 32 misses swaps of 0 and Z)."""
    interim = 0
    for ch in body:
        interim = _times_alpha(interim) ^ _DECODE[ch]
    return CROCKFORD[_times_alpha(interim)]


def tracking_code(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    # 35 random bits: one byte per character, 5 bits of each (256 is a multiple of 32: no bias)
    body = "".join(CROCKFORD[b & 31] for b in random_bytes(7))
    return body + _check_char(body)


def normalize_tracking_code(text: str) -> str | None:
    """Upper-case, drop spaces and hyphens, read O as 0 and I/L as 1; None if the
    result is not a valid code (wrong length, bad character or bad check)."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -")
    if len(cleaned) != 8:
        return None
    try:
        digits = [CROCKFORD[_DECODE[ch]] for ch in cleaned]
    except KeyError:
        return None
    code = "".join(digits)
    return code if _check_char(code[:7]) == code[7] else None


def format_tracking_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"
