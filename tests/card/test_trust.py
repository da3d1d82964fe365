"""Trust checks on certificates alone (no reader): only a well-formed agent
certificate from the home's CA, valid now and not revoked, gives an identity."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from card import ca
from card.errors import Expired, NoTrust, Revoked, Untrusted, WrongCA
from card.trust import Trust

NOW = dt.datetime.now(dt.UTC)


def forge(home, *, uid="claire", role="agent", key=None, is_ca=False, sign_usage=True, audience="agent",
          signer=None, start_days=0):
    """A certificate signed by the home's CA key (or ``signer``), shaped as asked."""
    ca_cert = x509.load_pem_x509_certificate((home / "ca" / f"{audience}-ca.pem").read_bytes())
    ca_key = signer or serialization.load_pem_private_key((home / "ca" / f"{audience}-ca.key").read_bytes(), None)
    key = key or ec.generate_private_key(ec.SECP256R1())
    parts = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role), x509.NameAttribute(NameOID.COMMON_NAME, "X")]
    if uid is not None:
        parts.append(x509.NameAttribute(NameOID.USER_ID, uid))
    return (x509.CertificateBuilder().subject_name(x509.Name(parts)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW + dt.timedelta(days=start_days)).not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=sign_usage, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=is_ca, crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(ca_key, hashes.SHA256()))


@pytest.fixture
def home(tmp_path):
    ca.ensure(tmp_path)
    return tmp_path


def test_well_formed_certificate_gives_the_identity(home):
    identity = Trust(home).check(forge(home))
    assert (identity.uid, identity.role, identity.name) == ("claire", "agent", "X")


@pytest.mark.parametrize("shape, said", [
    ({"role": "citizen"}, "role 'citizen'"),
    ({"role": "admin"}, "role 'admin'"),
    ({"uid": None}, "no valid UID"),
    ({"uid": "Claire Moreau"}, "no valid UID"),
    ({"is_ca": True}, "is a CA certificate"),
    ({"sign_usage": False}, "does not allow signing"),
    ({"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)}, "ECDSA P-256"),
    ({"key": ec.generate_private_key(ec.SECP384R1())}, "ECDSA P-256"),
])
def test_badly_shaped_certificates_are_refused(home, shape, said):
    with pytest.raises(Untrusted, match=said) as refused:
        Trust(home).check(forge(home, **shape))
    assert refused.value.code == "bad_certificate" and refused.value.fr


def test_same_issuer_name_but_another_key_is_refused(home):
    """A forger who copies the CA's name but not its key."""
    with pytest.raises(WrongCA):
        Trust(home).check(forge(home, signer=ec.generate_private_key(ec.SECP256R1())))


def test_citizen_certificate_is_no_agent_certificate(home):
    citizen = forge(home, uid="01HCIT", role="citizen", audience="citizen")
    assert Trust(home).check(citizen, "citizen").role == "citizen"
    with pytest.raises(WrongCA):
        Trust(home).check(citizen, "agent")


def test_validity_is_checked_against_the_clock(home):
    cert = forge(home, start_days=1)
    with pytest.raises(Expired, match="expired"):
        Trust(home).check(cert, now=NOW + dt.timedelta(days=31))
    with pytest.raises(Expired, match="not valid before"):
        Trust(home).check(cert, now=NOW + dt.timedelta(hours=1))
    assert Trust(home).check(cert, now=NOW + dt.timedelta(days=2)).uid == "claire"
    with pytest.raises(Expired, match="CA certificate"):
        Trust(home).check(cert, now=NOW + dt.timedelta(days=4000))


def test_revocation_is_by_serial(home):
    cert, other = forge(home), forge(home)
    ca.revoke_serial(home, "agent", cert.serial_number)
    with pytest.raises(Revoked):
        Trust(home).check(cert)
    assert Trust(home).check(other).uid == "claire"


def test_trust_anchor_must_be_a_ca(home, tmp_path):
    leaf = forge(home)
    (home / "ca" / "agent-ca.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(NoTrust):
        Trust(home).check(forge(home))
    (home / "ca" / "agent-ca.pem").write_text("not a certificate")
    with pytest.raises(NoTrust, match="not a PEM certificate"):
        Trust(home).check(leaf)
