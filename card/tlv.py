"""BER-TLV as PIV cards use it (SP 800-73-4): strict, so a malformed or
truncated answer from a card is refused rather than half-read.

Strict means: tags of at most 3 bytes, definite lengths in their shortest
form (at most 3 length bytes), every value inside the buffer, nothing left over.
"""

from __future__ import annotations

from .errors import CardProtocolError

MAX_TAG_BYTES = 3


def _bad(en: str, fr: str) -> CardProtocolError:
    return CardProtocolError(f"malformed TLV from the card: {en}", f"réponse TLV mal formée de la carte : {fr}")


def read_tag(data: bytes, pos: int) -> tuple[int, int]:
    """The tag starting at ``pos`` and the position after it."""
    if pos >= len(data):
        raise _bad("missing tag", "étiquette manquante")
    first = data[pos]
    tag, pos = first, pos + 1
    if first & 0x1F == 0x1F:  # multi-byte tag: more bytes while bit 8 is set
        while True:
            if pos >= len(data):
                raise _bad("truncated tag", "étiquette tronquée")
            byte = data[pos]
            tag, pos = (tag << 8) | byte, pos + 1
            if tag.bit_length() > 8 * MAX_TAG_BYTES:
                raise _bad("tag longer than 3 bytes", "étiquette de plus de 3 octets")
            if not byte & 0x80:
                break
    return tag, pos


def read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise _bad("missing length", "longueur manquante")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0:
        raise _bad("indefinite length", "longueur indéfinie")
    if count > 3:
        raise _bad("length on more than 3 bytes", "longueur sur plus de 3 octets")
    if pos + count > len(data):
        raise _bad("truncated length", "longueur tronquée")
    length = int.from_bytes(data[pos:pos + count], "big")
    if length < 0x80 or length.bit_length() <= 8 * (count - 1):
        raise _bad("length not in its shortest form", "longueur pas sous sa forme la plus courte")
    return length, pos + count


def parse(data: bytes) -> list[tuple[int, bytes]]:
    """Every (tag, value) at this level, in order; the whole buffer must be TLVs."""
    data = bytes(data)
    items, pos = [], 0
    while pos < len(data):
        tag, pos = read_tag(data, pos)
        length, pos = read_length(data, pos)
        if pos + length > len(data):
            raise _bad(f"value of tag {tag:X} runs past the end", f"la valeur de l'étiquette {tag:X} dépasse la fin")
        items.append((tag, data[pos:pos + length]))
        pos += length
    return items


def one(data: bytes, tag: int) -> bytes:
    """The value of the single TLV that must make up ``data``."""
    items = parse(data)
    if len(items) != 1 or items[0][0] != tag:
        found = ", ".join(f"{t:X}" for t, _ in items) or "nothing"
        raise _bad(f"expected only tag {tag:X}, found {found}", f"attendu l'étiquette {tag:X} seule, reçu {found}")
    return items[0][1]


def find(data: bytes, tag: int, *, required: bool = True) -> bytes | None:
    """The value of ``tag`` among the TLVs of ``data`` (which must all parse)."""
    found = [v for t, v in parse(data) if t == tag]
    if len(found) > 1:
        raise _bad(f"tag {tag:X} appears twice", f"l'étiquette {tag:X} apparaît deux fois")
    if not found:
        if required:
            raise _bad(f"tag {tag:X} is missing", f"l'étiquette {tag:X} est absente")
        return None
    return found[0]


def encode_length(length: int) -> bytes:
    if length < 0:
        raise ValueError("negative length")
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(body) > 3:
        raise ValueError("TLV value too long")
    return bytes([0x80 | len(body)]) + body


def encode(tag: int, value: bytes) -> bytes:
    if not 0 <= tag < 1 << (8 * MAX_TAG_BYTES):
        raise ValueError("tag out of range")
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big") + encode_length(len(value)) + bytes(value)
