"""Codes a person must read and copy: shown large, letter-spaced, boxed.

Textual's Digits widget cannot draw most letters of a tracking code, so the
large form here is spacing and a heavy frame, which every terminal renders."""

from __future__ import annotations

from textual.widgets import Static


class BigCode(Static):
    def __init__(self, code: str, **kwargs) -> None:
        super().__init__(" ".join(code), **kwargs)
