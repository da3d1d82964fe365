"""Joining a city (enrolment: the terminal's device keys, approved by the
admin) and rebuilding the whole city's state in a new home from the SoR and
k of n recovery shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import Forbidden, Invalid, NotFound
from hub.terminal import Terminal

from . import auth, keys, vault
from .client import Link, SoRRefused
from .local import Local
from .sync import Replicator, Report
from .trust import Trust


async def fetch_city(url: str, invite: str | None = None, recovery: Ed25519PrivateKey | None = None,
                     device: tuple[str, Ed25519PrivateKey] | None = None) -> dict[str, Any]:
    """The city's public keys. A shared SoR shows them only to who brings an
    open invitation or signs with one of the city's keys (the recovery key,
    an enrolled terminal's device key); anyone else gets the 404 an unknown
    city gets."""
    key_id, signer = ("recovery", recovery) if recovery is not None else device or ("", Ed25519PrivateKey.generate())
    async with Link(url, key_id, signer, attempts=3, headers={auth.INVITE: invite} if invite else None) as link:
        try:
            return await link.json("GET", "/v1/city", signed=bool(key_id), what="the city request")
        except SoRRefused as exc:
            if exc.status == 404 and recovery is not None:
                raise Forbidden(
                    f"these shares do not hold the recovery key of a city at {url} (another city, a wrong share, "
                    "or a wrong SoR address or --city)",
                    f"ces parts ne contiennent pas la clé de récupération d'une ville à {url} (autre ville, part "
                    "erronée, ou mauvaise adresse de SoR ou --city)") from None
            if exc.status == 404:
                raise NotFound(
                    f"the SoR at {url} shows no city there to this request: check the SoR address and --city, and "
                    "that the invitation is still open (`beffroi sor invite`)",
                    f"le SoR à {url} ne montre aucune ville ici à cette demande : vérifiez l'adresse du SoR et "
                    "--city, et que l'invitation est encore ouverte (`beffroi sor invite`)", "no_city") from None
            raise


async def enroll(terminal: Terminal, url: str, invite: str | None = None) -> dict[str, Any]:
    """Ask the SoR to enrol this terminal; a new terminal presents the
    invitation code the admin made for its name (`beffroi sor invite`)."""
    known_keys = keys.device_keys(terminal.home)   # a terminal enrolled before signs (its replication.db lost, say)
    city = await fetch_city(url, invite, device=(terminal.id, known_keys.sign) if known_keys and not invite else None)
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
    city = await fetch_city(url, recovery=keys.recovery_signer(recovery))
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
