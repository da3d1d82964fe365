"""Joining a city (enrolment: the terminal's device keys, approved by the
admin) and rebuilding the whole city's state in a new home from the SoR and
k of n recovery shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import Forbidden, Invalid
from hub.terminal import Terminal

from . import keys, vault
from .client import Link
from .local import Local
from .sync import Replicator, Report
from .trust import Trust


async def fetch_city(url: str) -> dict[str, Any]:
    async with Link(url, "", Ed25519PrivateKey.generate(), attempts=3) as link:
        return await link.json("GET", "/v1/city", signed=False, what="the city request")


async def enroll(terminal: Terminal, url: str, invite: str | None = None) -> dict[str, Any]:
    """Ask the SoR to enrol this terminal; a new terminal presents the
    invitation code the admin made for its name (`beffroi sor invite`)."""
    city = await fetch_city(url)
    local = Local(terminal.home)
    try:
        known = local.get("city")
        if known and known["admin_sign"] != city["admin_sign"]:
            raise Forbidden("this terminal is enrolled with another city's SoR (admin key differs)",
                            "ce terminal est inscrit auprès du SoR d'une autre ville (clé d'administration différente)")
        device = keys.device_keys(terminal.home, create=True)
        body = json.dumps({"terminal": terminal.id, "name": terminal.name, "sign_pub": device.sign_pub,
                           "kx_pub": device.kx_pub, **({"invite": invite} if invite else {}),
                           **({"office": terminal.config["office"]} if terminal.config.get("office") else {})}).encode()
        async with Link(url, terminal.id, device.sign) as link:
            answer = await link.json("POST", "/v1/enrol", body, what="the enrolment", ok=(200, 202))
        local.set("city", city)
        local.set("sor", url)
    finally:
        local.close()
    return {"terminal": terminal.id, "name": terminal.name, "status": answer["status"], "city": city["city"],
            "device_fingerprint": keys.fingerprint(keys.unb64(device.sign_pub)),
            "admin_fingerprint": city["admin_fingerprint"]}


async def restore(url: str, share_texts: list[str], home: Path, name: str,
                  on_fetched: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Rebuild the whole city's state in a new home from the SoR and k shares.
    ``on_fetched`` hears of each segment as it arrives (the console's progress bar)."""
    home = Path(home)
    if home.exists() and any(home.iterdir()):
        raise Invalid(f"{home} is not empty: restore builds a new home", f"{home} n'est pas vide : la restauration crée un nouveau répertoire")
    recovery = keys.combine_shares(share_texts)
    city = await fetch_city(url)
    if keys.b64(keys.public_bytes(recovery)) != city["recovery_kx"]:
        raise Forbidden("these shares do not hold this SoR's recovery key (another city, or a wrong share)",
                        "ces parts ne contiennent pas la clé de récupération de ce SoR (autre ville, ou part erronée)")
    terminal = Terminal.init(home, name)   # refuses an existing home: what follows is ours to remove
    replicator = Replicator(terminal)
    replicator.on_fetched = on_fetched
    complete = False
    try:
        replicator.local.set("city", city)
        replicator.local.set("sor", url)
        report = Report()
        async with Link(url, "recovery", keys.recovery_signer(recovery)) as link:
            listing = await link.json("GET", "/v1/devices", what="the device list")
            epochs = (await link.json("GET", "/v1/keys", what="the key request"))["epochs"]
            trust = Trust(keys.sign_public(city["admin_sign"]))
            trust.load_devices(listing)
            trust.load_keys(epochs, "recovery", recovery)
            replicator.local.set("devices", listing)
            await replicator.pull(link, trust, report)
            documents, size, refused = await vault.fetch_missing(link, trust, terminal)
        complete = True
        return {"home": str(terminal.home), "terminal": terminal.id, "segments": report.pulled_segments,
                "events": report.pulled_events, "documents": documents, "document_bytes": size,
                "refused": report.refused + refused, "state_hash": terminal.state_hash(),
                "heads": dict(terminal.conn.execute("SELECT origin, seq FROM heads").fetchall())}
    finally:
        replicator.close()
        terminal.close()
        if not complete:  # no half-restored home left behind
            import shutil
            shutil.rmtree(home, ignore_errors=True)
