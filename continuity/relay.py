"""The office relay: the blind SoR program on a machine of the office LAN.

During an attack the city's data centre is down but the office's network
often works. ``beffroi relay init`` makes a SoR home from what one enrolled
terminal of the office already knows — the city's public keys, the
admin-signed device certificates and revocations, the admin-signed key
epochs — and ``beffroi sor serve`` serves it: the same program, the same
sealed segments, never plaintext and no admin key. Every certificate and
epoch record is checked against the city admin key before it is copied, so a
relay cannot be made to trust a device the admin never approved.

The terminals then sync with every upstream they know (``--sor`` repeated,
or ``beffroi relay use URL``); once the city's SoR is back, their segments
reach it exactly once (the SoR stores the same bytes at a position once).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from hub.durable import write_private
from hub.errors import Invalid, NotFound
from hub.terminal import Terminal


def init_relay(relay_home: Path, terminal_home: Path) -> dict[str, Any]:
    from replication import keys
    from replication.index import Index
    from replication.local import Local

    relay_home = Path(relay_home)
    if (relay_home / "sor.json").exists():
        raise Invalid(f"{relay_home} is already a SoR or relay home", f"{relay_home} est déjà un répertoire de SoR ou de relais")
    with Terminal.open(terminal_home) as terminal:
        terminal_id = terminal.id
    local = Local(Path(terminal_home))
    try:
        city, listing = local.get("city"), local.get("devices")
        epochs = local.wrapped_keys(terminal_id)
    finally:
        local.close()
    if not city or not listing or not epochs:
        raise NotFound("this terminal has not synced with its SoR yet: a relay is made from what a synced terminal "
                       "knows", "ce terminal n'a pas encore synchronisé avec son SoR : un relais se crée à partir de ce "
                       "que sait un terminal synchronisé", "not_synced")
    admin = keys.sign_public(city["admin_sign"])
    devices = []
    for entry in listing.get("devices", []):
        cert = keys.verify_doc(admin, entry.get("certificate"), f"certificate of {entry.get('id')}")
        devices.append((cert["terminal"], cert["name"], cert["sign_pub"], cert["kx_pub"],
                        "revoked" if entry.get("status") == "revoked" else "active", time.time(),
                        json.dumps(entry["certificate"])))
    revocations = listing.get("revocations")
    revoked = keys.verify_doc(admin, revocations, "revocation list")["revoked"] if revocations else {}
    records = [(e["epoch"], keys.verify_doc(admin, e["record"], f"epoch {e['epoch']} record"), e) for e in epochs]
    relay_home.mkdir(parents=True, exist_ok=True)
    index = Index(relay_home)
    try:
        with index.transaction():
            index.conn.executemany("INSERT INTO devices (id, name, sign_pub, kx_pub, status, requested_at,"
                                   " certificate) VALUES (?,?,?,?,?,?,?)", devices)
            if revoked:
                index.conn.executemany("UPDATE devices SET status='revoked' WHERE id=?", [(d,) for d in revoked])
                index.conn.execute("INSERT INTO meta VALUES ('revocations', ?)", (json.dumps(revocations),))
            for epoch, _, entry in records:
                index.conn.execute("INSERT INTO epochs VALUES (?,?)", (epoch, json.dumps(entry["record"])))
                index.conn.execute("INSERT INTO wrapped VALUES (?,?,?)", (epoch, terminal_id, entry["wrapped"]))
    finally:
        index.close()
    write_private(relay_home / "sor.json", json.dumps({**city, "format": 1, "relay": True}, indent=2).encode())
    return {"home": str(relay_home), "city": city["city"], "devices": len(devices), "epochs": len(records),
            "admin_fingerprint": city["admin_fingerprint"]}


def use_relay(terminal_home: Path, url: str, remove: bool = False) -> list[str]:
    """Add (or remove) an office relay to the upstreams this terminal syncs
    with; adding it also introduces this terminal there (:func:`introduce`)."""
    from replication.local import Local
    if not url.startswith(("http://", "https://")):
        raise Invalid("a relay is an http(s):// URL", "un relais est une URL http(s)://")
    Terminal.open(terminal_home).close()
    if not remove:
        asyncio.run(introduce(Path(terminal_home), url))
    local = Local(Path(terminal_home))
    try:
        relays = [u for u in local.get("relays") or [] if u != url.rstrip("/")]
        if not remove:
            relays.append(url.rstrip("/"))
        local.set("relays", relays)
    finally:
        local.close()
    return relays


async def introduce(terminal_home: Path, url: str) -> int:
    """Hand the relay the admin-signed device list this terminal holds, so a
    relay made before this terminal was approved lets it in; how many devices
    the relay learnt."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from replication.client import Link, SoRRefused
    from replication.local import Local
    local = Local(Path(terminal_home))
    try:
        listing = local.get("devices")
    finally:
        local.close()
    if not listing:
        raise NotFound("this terminal has not synced with its SoR yet: it has no device list to hand over",
                       "ce terminal n'a pas encore synchronisé avec son SoR : il n'a pas de liste d'appareils à "
                       "transmettre", "not_synced")
    async with Link(url, "", Ed25519PrivateKey.generate(), attempts=3) as link:
        status, body = await link.request("POST", "/v1/devices", json.dumps(listing).encode(), signed=False,
                                          what="the device list")
    if status != 200:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        raise SoRRefused(status, payload, "the device list")
    return int(json.loads(body)["added"])
