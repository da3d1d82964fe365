"""Sneakernet bundles: segments on a USB stick when there is no network.

A bundle is every segment a terminal holds (its own and those it verified),
length-prefixed, with a SHA-256 trailer so a truncated copy is refused as a
whole. The segments inside are sealed and signed, so the stick and whoever
carries it need no trust; importing the same bundle twice changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

from hub.errors import Invalid
from hub.terminal import Terminal

from . import segment
from .sync import Replicator, Report

MAGIC = b"BFBUNDLE1\n"
MAX_SEGMENTS = 1_000_000
_U32 = struct.Struct(">I")


def export(terminal: Terminal, path: Path) -> dict[str, int]:
    replicator = Replicator(terminal)
    try:
        if replicator.device is not None and replicator.local.get("city"):
            replicator.seal_pending()
        datas = list(replicator.local.every())
    finally:
        replicator.close()
    digest = hashlib.sha256()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as out:
        for chunk in [MAGIC, _U32.pack(len(datas))]:
            out.write(chunk)
            digest.update(chunk)
        for data in datas:
            for chunk in (_U32.pack(len(data)), data):
                out.write(chunk)
                digest.update(chunk)
        out.write(digest.digest())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return {"segments": len(datas), "bytes": path.stat().st_size}


def read(path: Path) -> list[bytes]:
    path = Path(path)
    if not path.is_file():
        raise Invalid(f"{path} is not a readable file", f"{path} n'est pas un fichier lisible")
    raw = path.read_bytes()
    if not raw.startswith(MAGIC) or len(raw) < len(MAGIC) + 4 + 32:
        raise Invalid(f"{path} is not a Beffroi bundle", f"{path} n'est pas un lot Beffroi")
    body, trailer = raw[:-32], raw[-32:]
    if hashlib.sha256(body).digest() != trailer:
        raise Invalid(f"{path} is truncated or damaged (checksum mismatch); nothing was imported",
                      f"{path} est tronqué ou endommagé (somme de contrôle) ; rien n'a été importé")
    at = len(MAGIC)
    (count,) = _U32.unpack_from(body, at)
    at += 4
    if count > MAX_SEGMENTS:
        raise Invalid("bundle announces too many segments", "le lot annonce trop de segments")
    datas = []
    for _ in range(count):
        if at + 4 > len(body):
            raise Invalid("bundle ends before its last segment", "le lot se termine avant son dernier segment")
        (size,) = _U32.unpack_from(body, at)
        if size > segment.MAX_SEGMENT or at + 4 + size > len(body):
            raise Invalid("bundle segment length out of bounds", "longueur de segment hors limites dans le lot")
        datas.append(body[at + 4:at + 4 + size])
        at += 4 + size
    if at != len(body):
        raise Invalid("bytes after the last segment of the bundle", "octets après le dernier segment du lot")
    return datas


def import_(terminal: Terminal, path: Path) -> Report:
    datas = read(path)
    replicator = Replicator(terminal)
    try:
        report = Report()
        replicator.import_segments(datas, report)
        report.conflicts = terminal.conn.execute(
            "SELECT count(*) FROM conflicts WHERE resolved_by IS NULL").fetchone()[0]
        return report
    finally:
        replicator.close()
