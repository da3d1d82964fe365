"""The vault on one terminal: one key per document kept out of the journal,
unrelated names for equal documents, the per-citizen quota, erasure."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from hub import vault
from hub.errors import Forbidden, Invalid, NotFound
from hub.roles import Principal
from hub.terminal import Terminal
from tests.conftest import run_cli
from tests.hub.test_cli import _citizen, _ok, _refused


def pdf(marker: bytes) -> bytes:
    return b"%PDF-1.7\n" + marker + os.urandom(2048) + b"\n%%EOF\n"


def blob_path(terminal: Terminal, document_id: str):
    name = terminal.conn.execute("SELECT blob FROM vault_documents WHERE id=?", (document_id,)).fetchone()[0]
    return terminal.home / "vault" / name[:2] / name


def test_equal_documents_get_unrelated_names_keys_and_ciphertexts(desk, citizen):
    other = desk.citizens.register(first_name="Paul", last_name="Martin", birth_date="1970-01-02")
    content = pdf(b"Justificatif de domicile")
    a = desk.vault.deposit(citizen["id"], "edf.pdf", content, "domicile")
    b = desk.vault.deposit(other["id"], "edf.pdf", content, "domicile")
    rows = {r[0]: r[1:] for r in desk.conn.execute("SELECT id, blob, key_check, digest FROM vault_documents")}
    assert rows[a["id"]][0] != rows[b["id"]][0]                      # names
    assert rows[a["id"]][1] != rows[b["id"]][1]                      # keys
    assert rows[a["id"]][2] != rows[b["id"]][2]                      # keyed digests
    raw_a, raw_b = blob_path(desk.terminal, a["id"]).read_bytes(), blob_path(desk.terminal, b["id"]).read_bytes()
    assert content[:64] not in raw_a and len(raw_a) == len(raw_b) and raw_a[64:128] != raw_b[64:128]
    assert desk.vault.read(a["id"]) == desk.vault.read(b["id"]) == content


def test_the_content_key_never_enters_the_journal(desk, citizen):
    content = pdf(b"Avis d'imposition")
    doc = desk.vault.deposit(citizen["id"], "avis.pdf", content, "impots")
    key, _ = vault.held(desk.terminal, {"blob": blob_path(desk.terminal, doc["id"]).name})
    journal = (desk.terminal.home / "journal.db").read_bytes()
    wal = desk.terminal.home / "journal.db-wal"
    journal += wal.read_bytes() if wal.exists() else b""
    assert key not in journal and key.hex().encode() not in journal
    data = json.loads(desk.conn.execute("SELECT data FROM events WHERE type='vault.document_deposited'").fetchone()[0])
    assert set(data) == {"id", "citizen_id", "blob", "key_check", "digest", "media_type", "size", "name", "kind"}


def test_quota_per_citizen_is_configurable_and_counts_only_live_documents(tmp_path):
    with Terminal.init(tmp_path / "t", "MAIRIE-02") as t:
        t.config["vault_quota_mib"] = 1
        t.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
        desk = t.session(Principal.agent("agent"))
        person = desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
        first = desk.vault.deposit(person["id"], "a.pdf", b"%PDF-" + os.urandom(700 * 1024))
        with pytest.raises(Invalid, match="quota of 1 MiB") as refused:
            desk.vault.deposit(person["id"], "b.pdf", b"%PDF-" + os.urandom(400 * 1024))
        assert "quota de 1 Mio" in refused.value.fr
        assert len(desk.vault.for_citizen(person["id"])) == 1
        desk.vault.erase(first["id"], "demande RGPD")
        desk.vault.deposit(person["id"], "b.pdf", b"%PDF-" + os.urandom(400 * 1024))


def test_erasure_shreds_the_copy_and_the_journal_keeps_who_and_when(desk, citizen, terminal):
    content = pdf(b"Livret de famille")
    doc = desk.vault.deposit(citizen["id"], "livret.pdf", content, "famille")
    path = blob_path(terminal, doc["id"])
    kiosk = terminal.session(Principal.kiosk("borne").narrowed(citizen_id=citizen["id"]))
    with pytest.raises(Forbidden):
        kiosk.vault.erase(doc["id"], "demande RGPD")
    with pytest.raises(Invalid, match="reason"):
        desk.vault.erase(doc["id"], "  ")
    erased = desk.vault.erase(doc["id"], "demande RGPD")
    assert not path.exists() and erased["erased_by"] == "agent:agent" and erased["erased_hlc"]
    with pytest.raises(NotFound, match="erased at the citizen's request") as refused:
        desk.vault.read(doc["id"])
    assert "effacé" in refused.value.fr
    with pytest.raises(Invalid, match="already erased"):
        desk.vault.erase(doc["id"], "demande RGPD")
    assert desk.vault.for_citizen(citizen["id"]) == []
    event = terminal.conn.execute("SELECT actor, data FROM events WHERE type='vault.document_erased'").fetchone()
    assert event[0] == "agent:agent" and json.loads(event[1]) == {"id": doc["id"], "reason": "demande RGPD"}
    assert terminal.verify() is None
    before = terminal.state_hash()
    terminal.rebuild()
    assert terminal.state_hash() == before


def test_a_damaged_copy_is_refused_never_shown(desk, citizen, terminal):
    doc = desk.vault.deposit(citizen["id"], "avis.pdf", pdf(b"x"), "impots")
    path = blob_path(terminal, doc["id"])
    raw = bytearray(path.read_bytes())
    raw[100] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(Invalid, match="damaged"):
        desk.vault.read(doc["id"])
    path.unlink()
    with pytest.raises(NotFound, match="not enrolled"):
        desk.vault.read(doc["id"])


def test_a_home_from_before_the_replicated_vault_is_refolded_and_still_reads(terminal, desk, citizen):
    # an old deposit: key wrapped in the event, blob named by the plaintext's SHA-256
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap
    content = pdf(b"ancien")
    sha = hashlib.sha256(content).hexdigest()
    key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    (terminal.home / "vault" / sha[:2]).mkdir(parents=True)
    (terminal.home / "vault" / sha[:2] / sha).write_bytes(nonce + AESGCM(key).encrypt(nonce, content, sha.encode()))
    wrapped = aes_key_wrap((terminal.home / "keys" / "storage.key").read_bytes(), key).hex()
    with terminal.writing() as w:
        w.record(Principal.agent("agent"), "vault.document_deposited", f"citizen:{citizen['id']}",
                 {"id": "01OLD", "citizen_id": citizen["id"], "sha256": sha, "media_type": "application/pdf",
                  "size": len(content), "name": "ancien.pdf", "kind": "autre", "wrapped_key": wrapped})
    terminal.conn.execute("DROP TABLE vault_documents")
    terminal.conn.execute(  # the table as it was
        "CREATE TABLE vault_documents (id TEXT PRIMARY KEY, citizen_id TEXT NOT NULL, sha256 TEXT NOT NULL,"
        " media_type TEXT NOT NULL, size INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,"
        " wrapped_key TEXT NOT NULL, origin TEXT NOT NULL, hlc INTEGER NOT NULL, removed_hlc INTEGER)")
    terminal.close()
    with Terminal.open(terminal.home) as again:
        assert again.session(Principal.agent("agent")).vault.read("01OLD") == content


def test_cli_erase_then_get_fails_with_one_line(tmp_path):
    home = tmp_path / "home"
    assert run_cli("init", "--terminal", "MAIRIE-01", home=home).returncode == 0
    person = _citizen(home)
    source = tmp_path / "avis.pdf"
    source.write_bytes(pdf(b"Avis"))
    doc = _ok("vault", "deposit", "--citizen", person["id"], "--kind", "impots", str(source), home=home)
    _ok("vault", "get", doc["id"], str(tmp_path / "out.pdf"), home=home)
    assert (tmp_path / "out.pdf").read_bytes() == source.read_bytes()
    _refused("vault", "erase", doc["id"], "--reason", " ", home=home, message="reason")
    erased = _ok("vault", "erase", doc["id"], "--reason", "demande RGPD", home=home)
    assert erased["erased_by"] == "ops:cli"
    _refused("vault", "get", doc["id"], str(tmp_path / "again.pdf"), home=home, message="erased")
    assert not (tmp_path / "again.pdf").exists()
    assert run_cli("verify", home=home).returncode == 0
    with sqlite3.connect(home / "journal.db") as db:
        assert db.execute("SELECT count(*) FROM events WHERE type='vault.document_erased'").fetchone()[0] == 1
