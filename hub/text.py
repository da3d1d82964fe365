"""Text folding for search: "Hélène" and "helene" must meet."""

from __future__ import annotations

import re
import unicodedata


def folded(text: str) -> str:
    """Lower case without diacritics; ligatures and apostrophes made plain."""
    text = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"['’\-]", " ", text.lower())


def phone_digits(text: str) -> str:
    """National form of a French number: +33 6 12… and 06 12… index alike."""
    digits = re.sub(r"\D", "", text)
    if digits.startswith("33") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits
