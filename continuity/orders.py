"""Incident orders: the small signed documents that put terminals in isolated
mode and, at the end of the incident, in recovery.

An order is written by the city admin on their own machine (no terminal home
needed), signed with the admin Ed25519 key that ``beffroi sor init`` made, and
carried by the SoR feed, an office relay or a file on a USB stick. Every
terminal checks it against the admin key it pinned when it enrolled, so no
carrier needs to be trusted.

The file is the canonical JSON of ``{"doc": …, "sig": …}`` and nothing else:
any changed byte either breaks the JSON, the canonical form or the signature,
so a tampered stick is refused rather than half-understood.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub import canonical, ids
from hub.errors import Forbidden, Invalid
from hub.mode import parse_span

FORMAT = "beffroi-incident-order/1"
KINDS = ("declare", "end")
MAX_BYTES = 64 * 1024
DEFAULT_VALIDITY = dt.timedelta(days=30)   # an order left on a stick stops working after this


class OrderRefused(Forbidden):
    """An order this terminal must not obey; nothing was written."""

    code = "order_refused"


def iso(moment: dt.datetime) -> str:
    """UTC, second precision, ``Z``: sorts as text in the order of time."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any, what: str) -> dt.datetime:
    try:
        moment = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        raise OrderRefused(f"the order's {what} is not a UTC time like 2026-11-30T08:00:00Z",
                           f"le champ {what} de l'ordre n'est pas une heure UTC comme 2026-11-30T08:00:00Z")
    return moment


@dataclass(frozen=True)
class Scope:
    """Which terminals an order is for: the whole city, offices, or named terminals."""

    kind: str                    # city | offices | terminals
    names: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> "Scope":
        """``city``, ``office:NAME[,NAME]`` or ``terminals:NAME[,NAME]`` (CLI form)."""
        if text is None or text == "city":
            return cls("city")
        kind, sep, rest = text.partition(":")
        names = tuple(n.strip() for n in rest.split(",") if n.strip())
        if not sep or kind not in ("office", "offices", "terminal", "terminals") or not names:
            raise Invalid("--scope is city, office:NAME[,NAME…] or terminals:NAME[,NAME…]",
                          "--scope vaut city, office:NOM[,NOM…] ou terminals:NOM[,NOM…]")
        return cls("offices" if kind.startswith("office") else "terminals", names)

    @classmethod
    def from_doc(cls, raw: Any) -> "Scope":
        if not isinstance(raw, dict) or raw.get("kind") not in ("city", "offices", "terminals") \
                or not isinstance(raw.get("names", []), list) \
                or not all(isinstance(n, str) and n for n in raw.get("names", [])) \
                or (raw["kind"] != "city") != bool(raw.get("names")):
            raise OrderRefused("the order's scope is malformed", "la portée de l'ordre est malformée")
        return cls(raw["kind"], tuple(raw.get("names", [])))

    def to_doc(self) -> dict[str, Any]:
        return {"kind": self.kind, "names": list(self.names)} if self.names else {"kind": self.kind}

    def covers(self, terminal_id: str, name: str, office: str | None) -> bool:
        if self.kind == "city":
            return True
        if self.kind == "offices":
            return office is not None and office in self.names
        return terminal_id in self.names or name in self.names

    def __str__(self) -> str:
        return self.kind if self.kind == "city" else f"{self.kind}:{','.join(self.names)}"


def check_disjoint(ranges: dict[str, list[int]], what: str) -> None:
    """Two terminals never share a number: refuse overlapping ranges."""
    spans = sorted((r[0], r[1], n) for n, r in ranges.items())
    for (_, last, left), (first, _, right) in zip(spans, spans[1:]):
        if first <= last:
            raise Invalid(f"the {what} ranges of {left} and {right} overlap: two terminals would use the same numbers",
                          f"les plages ({what}) de {left} et {right} se chevauchent : deux terminaux utiliseraient "
                          f"les mêmes numéros")


def parse_ranges(pairs: list[str] | None, option: str = "--range") -> dict[str, list[int]]:
    """``NAME=FIRST-LAST`` pairs (CLI form) → ``{name: [first, last]}``; ranges never overlap."""
    ranges: dict[str, list[int]] = {}
    for pair in pairs or []:
        name, sep, span = pair.partition("=")
        if not sep or not name:
            raise Invalid(f"{option} takes TERMINAL=FIRST-LAST, got {pair!r}",
                          f"{option} attend TERMINAL=PREMIER-DERNIER, reçu {pair!r}")
        numbers = parse_span(span, f"{option} {name}=")
        if name in ranges:
            raise Invalid(f"{option} gives {name} two ranges", f"{option} donne deux plages à {name}")
        ranges[name] = numbers
    check_disjoint(ranges, "register" if option == "--range" else "ticket")
    return ranges


@dataclass(frozen=True)
class Order:
    """A verified order (only :func:`verify` makes one from bytes)."""

    doc: dict[str, Any]
    raw: bytes

    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def kind(self) -> str:
        return self.doc["kind"]

    @property
    def scope(self) -> Scope:
        return Scope.from_doc(self.doc["scope"])

    @property
    def fingerprint(self) -> str:
        """What an office reads back over the phone to check it holds the right order."""
        digest = hashlib.sha256(self.raw).hexdigest()[:20].upper()
        return "-".join(digest[i:i + 4] for i in range(0, 20, 4))

    def range_for(self, terminal_id: str, name: str, kind: str = "ranges") -> tuple[int, int] | None:
        """This terminal's range of register numbers (``ranges``) or queue tickets (``tickets``)."""
        ranges = self.doc.get(kind) or {}
        found = ranges.get(terminal_id) or ranges.get(name)
        return (found[0], found[1]) if found else None

    def summary(self) -> dict[str, Any]:
        """What the mode event records of the order (the journal is the audit trail)."""
        return {"id": self.id, "kind": self.kind, "issued": self.doc["issued"], "by": self.doc["declared_by"],
                "scope": self.scope.to_doc(), "fingerprint": self.fingerprint}


def sign(admin_sign_key, *, kind: str, city: str, admin_fingerprint: str, declared_by: str, reason: str,
         scope: Scope, now: dt.datetime, new_id: Callable[[], str] = ids.ulid,
         ranges: dict[str, list[int]] | None = None, tickets: dict[str, list[int]] | None = None,
         ends: str | None = None, validity: dt.timedelta = DEFAULT_VALIDITY) -> bytes:
    """The bytes of a signed order, ready for a file or the SoR."""
    from replication import keys
    if kind not in KINDS:
        raise Invalid(f"an order is one of {', '.join(KINDS)}", f"un ordre est l'un de {', '.join(KINDS)}")
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise Invalid("--reason needs 1 to 500 characters", "--reason doit compter de 1 à 500 caractères")
    declared_by = (declared_by or "").strip()
    if not declared_by or len(declared_by) > 100:
        raise Invalid("--by needs 1 to 100 characters (who declares)",
                      "--by doit compter de 1 à 100 caractères (qui déclare)")
    doc: dict[str, Any] = {
        "format": FORMAT, "kind": kind, "id": new_id(), "city": city, "admin": admin_fingerprint,
        "issued": iso(now), "expires": iso(now + validity), "declared_by": declared_by, "reason": reason,
        "scope": scope.to_doc(),
    }
    if ranges:
        doc["ranges"] = ranges
    if tickets:
        doc["tickets"] = tickets
    if ends:
        doc["ends"] = ends
    return canonical.encode(keys.sign_doc(admin_sign_key, doc)) + b"\n"


def _refuse_shape(en: str, fr: str) -> OrderRefused:
    return OrderRefused(f"not a valid incident order: {en}", f"ce n'est pas un ordre d'incident valide : {fr}")


def verify(raw: bytes, city: dict[str, Any], now: dt.datetime) -> Order:
    """The order in ``raw`` if the pinned city admin key signed exactly these
    bytes, for this city, and it has not expired; refuses otherwise."""
    from replication import keys
    if len(raw) > MAX_BYTES:
        raise _refuse_shape(f"larger than {MAX_BYTES} bytes", f"plus de {MAX_BYTES} octets")
    body = raw[:-1] if raw.endswith(b"\n") else raw
    try:
        outer = json.loads(body.decode("utf-8"))
        exact = canonical.encode(outer) == body
    except (UnicodeDecodeError, ValueError, TypeError):
        raise _refuse_shape("the file is not JSON (damaged or not an order)",
                            "le fichier n'est pas du JSON (endommagé, ou pas un ordre)")
    if not exact:
        raise _refuse_shape("the bytes are not the ones that were signed (edited?)",
                            "les octets ne sont pas ceux qui ont été signés (modifié ?)")
    if not isinstance(outer, dict) or not isinstance(outer.get("sig"), str) or not _exact_b64(outer["sig"]):
        raise _refuse_shape("no signature", "pas de signature")
    doc = outer.get("doc")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _refuse_shape(f"its format is not {FORMAT}", f"son format n'est pas {FORMAT}")
    if doc.get("city") != city["city"] or doc.get("admin") != city["admin_fingerprint"]:
        raise OrderRefused(
            f"this order is for {doc.get('city')!r} (admin key {doc.get('admin')}), not for {city['city']!r} "
            f"(admin key {city['admin_fingerprint']}): check you hold your own city's order",
            f"cet ordre est destiné à {doc.get('city')!r} (clé d'administration {doc.get('admin')}), pas à "
            f"{city['city']!r} (clé {city['admin_fingerprint']}) : vérifiez que c'est l'ordre de votre ville")
    try:
        keys.verify_doc(keys.sign_public(city["admin_sign"]), outer, "this incident order")
    except keys.KeyRefused as exc:
        raise OrderRefused(f"{exc.en}: forged or altered, it is refused",
                           f"{exc.fr} : contrefait ou modifié, il est refusé")
    # signed by our admin from here on: still checked, as a bug at the admin's
    # end must not become a crash at every terminal
    if doc.get("kind") not in KINDS or not isinstance(doc.get("id"), str) or not ids.is_ulid(doc["id"]):
        raise _refuse_shape("unknown kind or id", "type ou identifiant inconnu")
    for name in ("declared_by", "reason"):
        if not isinstance(doc.get(name), str) or not doc[name]:
            raise _refuse_shape(f"no {name}", f"pas de {name}")
    issued, expires = parse_time(doc.get("issued"), "issued"), parse_time(doc.get("expires"), "expires")
    Scope.from_doc(doc.get("scope"))
    for kind in ("ranges", "tickets"):
        ranges = doc.get(kind, {})
        if not isinstance(ranges, dict) or not all(well_formed(r) for r in ranges.values()):
            raise _refuse_shape("malformed number ranges", "plages de numéros malformées")
    if now >= expires:
        raise OrderRefused(f"this order expired on {doc['expires']}: ask the city admin for a new one",
                           f"cet ordre a expiré le {doc['expires']} : demandez un nouvel ordre à l'administrateur")
    if issued > now + dt.timedelta(minutes=10):
        raise OrderRefused(f"this order is dated {doc['issued']}, in the future: check this terminal's clock",
                           f"cet ordre est daté du {doc['issued']}, dans le futur : vérifiez l'horloge du terminal")
    return Order(doc, raw)


def well_formed(span: Any) -> bool:
    return isinstance(span, list) and len(span) == 2 and all(type(n) is int for n in span) and 0 < span[0] <= span[1]


def _exact_b64(text: str) -> bool:
    """Base64 that decodes and encodes back to itself (unused bits included)."""
    from replication import keys
    try:
        return keys.b64(keys.unb64(text)) == text
    except keys.KeyRefused:
        return False


def read_file(path: Path) -> bytes:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise _refuse_shape(f"{path} is larger than {MAX_BYTES} bytes", f"{path} dépasse {MAX_BYTES} octets")
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise Invalid(f"cannot read the order file {path}: {exc.strerror}",
                      f"impossible de lire le fichier d'ordre {path} : {exc.strerror}")
