"""Canonical JSON: one byte sequence per value, so that hashes and signatures
computed on two terminals agree."""

from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring as _quote
from typing import Any

# One encoder for the process: json.dumps() with options builds a new one per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept as is; NaN and infinities refused."""
    return _ENCODER.encode(value)


def quote(text: str) -> str:
    """``dumps(text)`` for a string, without the encoder's dispatch: the same
    C function json uses when ``ensure_ascii`` is off."""
    return _quote(text)


def encode(value: Any) -> bytes:
    return dumps(value).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
