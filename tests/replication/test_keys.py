"""Key wrapping, admin-signed documents and k-of-n recovery shares."""

from __future__ import annotations

import itertools
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.errors import Invalid
from replication import keys
from replication.index import Index, init_city, load_city


def test_wrap_opens_only_for_its_recipient_and_context():
    data_key, me, other = keys.new_data_key(), X25519PrivateKey.generate(), X25519PrivateKey.generate()
    blob = keys.wrap(data_key, me.public_key(), "epoch:1:T1")
    assert keys.unwrap(blob, me, "epoch:1:T1") == data_key
    with pytest.raises(keys.KeyRefused):
        keys.unwrap(blob, other, "epoch:1:T1")
    with pytest.raises(keys.KeyRefused):
        keys.unwrap(blob, me, "epoch:2:T1")


def test_signed_documents_refuse_any_change():
    admin = Ed25519PrivateKey.generate()
    signed = keys.sign_doc(admin, {"kind": "revocations", "revoked": {}})
    assert keys.verify_doc(admin.public_key(), signed, "list")["kind"] == "revocations"
    forged = {"doc": {"kind": "revocations", "revoked": {"X": {}}}, "sig": signed["sig"]}
    with pytest.raises(keys.KeyRefused, match="not signed"):
        keys.verify_doc(admin.public_key(), forged, "list")
    with pytest.raises(keys.KeyRefused):
        keys.verify_doc(Ed25519PrivateKey.generate().public_key(), signed, "list")
    with pytest.raises(keys.KeyRefused):
        keys.verify_doc(admin.public_key(), ["not", "a", "doc"], "list")


def test_any_k_of_n_shares_recover_the_key_and_fewer_do_not():
    recovery = X25519PrivateKey.generate()
    shares = keys.split_recovery(recovery, 5, 3)
    texts = [keys.share_text(m, i, 5, 3, "Ville", keys.b64(keys.public_bytes(recovery))) for i, m in enumerate(shares, 1)]
    for chosen in itertools.combinations(texts, 3):
        assert keys.private_bytes(keys.combine_shares(list(chosen))) == keys.private_bytes(recovery)
    with pytest.raises(Invalid, match="do not combine"):
        keys.combine_shares(texts[:2])
    with pytest.raises(Invalid):
        keys.combine_shares(["# only a comment\n"])


@pytest.mark.parametrize("shares,threshold", [(3, 4), (0, 0), (3, 1), (17, 2)])
def test_bad_share_counts_are_refused_and_nothing_written(tmp_path, shares, threshold):
    with pytest.raises(Invalid):
        init_city(tmp_path / "sor", "Ville", shares, threshold)
    assert not (tmp_path / "sor").exists()


def test_sor_init_writes_private_files_and_epoch_one(tmp_path):
    home = tmp_path / "sor"
    info = init_city(home, "Ville", 3, 2)
    assert len(info["shares"]) == 3
    for path in [*info["shares"], home / "admin" / "admin-sign.key", home / "admin" / "admin-kx.key"]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    index = Index(home)
    try:
        assert index.current_epoch() == 1
        assert {r[0] for r in index.conn.execute("SELECT recipient FROM wrapped")} == {"admin", "recovery"}
    finally:
        index.close()
    assert load_city(home).name == "Ville"
    with pytest.raises(Invalid, match="already"):
        init_city(home, "Ville", 3, 2)
