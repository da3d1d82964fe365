"""The virtual card against independent PIV software from Debian, through the
real pcscd: Yubico's yubico-piv-tool, OpenSC (opensc-tool, pkcs15-tool,
pkcs11-tool with its PIN cache off, so every signature needs the card's own
security status) and pcsc-tools. What they do here is what they do with a real
PIV card or a YubiKey."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from card import ca
from card.login import authenticate
from card.virtual import ATR
from hub.terminal import Terminal

PKCS11 = next((p for p in ("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so", "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
                           "/usr/lib/opensc-pkcs11.so") if Path(p).exists()), None)
TOOLS = ("yubico-piv-tool", "pkcs11-tool", "pkcs15-tool", "opensc-tool", "pcsc_scan", "ATR_analysis")
pytestmark = pytest.mark.skipif(PKCS11 is None or not all(shutil.which(t) for t in TOOLS),
                                reason="install opensc, yubico-piv-tool and pcsc-tools: bash scripts/bootstrap (root)")


@pytest.fixture
def tools(tmp_path):
    """Run an independent tool with OpenSC's PIN cache off and nothing fetched
    from the network (pcsc_scan's ATR list is the one Debian ships)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy("/usr/share/pcsc/smartcard_list.txt", cache / "smartcard_list.txt")
    conf = tmp_path / "opensc.conf"
    conf.write_text("app default {\n    framework pkcs15 {\n        use_pin_caching = false;\n    }\n}\n")
    env = {"PATH": "/usr/bin:/bin:/usr/sbin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(cache),
           "OPENSC_CONF": str(conf)}

    def run(*argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, input=input, timeout=60)
        if check:
            assert done.returncode == 0, f"{argv[0]} failed: {done.stdout}\n{done.stderr}"
        return done
    return run


def card_cert(home: Path, uid: str = "claire") -> x509.Certificate:
    return ca.certificate_of(ca.read_card(home, uid))


def test_yubico_piv_tool_reads_status_objects_and_certificate(counter, reader, tools):
    reader.insert(counter.home, "claire")
    status = tools("yubico-piv-tool", "-r", reader.name, "-a", "status").stdout
    chuid = bytes.fromhex(ca.read_card(counter.home, "claire")["objects"]["5FC102"])
    assert f"CHUID:\t{chuid.hex()}" in status and "CCC:\tf015a000000116ff02" in status
    assert "Algorithm:\tECCP256" in status and "UID=claire" in status and "PIN tries left:\t3" in status
    pem = tools("yubico-piv-tool", "-r", reader.name, "-a", "read-certificate", "-s", "9a").stdout
    assert x509.load_pem_x509_certificate(pem.encode()) == card_cert(counter.home)


def test_yubico_piv_tool_verifies_the_pin_and_signs(counter, reader, tools, tmp_path):
    reader.insert(counter.home, "claire")
    pem = tmp_path / "claire.pem"
    pem.write_text(tools("yubico-piv-tool", "-r", reader.name, "-a", "read-certificate", "-s", "9a").stdout)
    verified = tools("yubico-piv-tool", "-r", reader.name, "-a", "verify-pin", "-P", "246810")
    assert "Successfully verified PIN" in verified.stdout + verified.stderr
    signed = tools("yubico-piv-tool", "-r", reader.name, "-a", "verify-pin", "-a", "test-signature", "-s", "9a",
                   "-P", "246810", "-i", str(pem))
    assert "Successful ECDSA verification" in signed.stdout + signed.stderr
    wrong = tools("yubico-piv-tool", "-r", reader.name, "-a", "verify-pin", "-P", "000000", check=False)
    assert wrong.returncode != 0 and "2 tries left" in wrong.stdout + wrong.stderr
    assert ca.read_card(counter.home, "claire")["pin_tries"] == 2


def test_pkcs11_tool_signs_with_the_pin_cache_off(counter, reader, tools, tmp_path):
    reader.insert(counter.home, "claire")
    data = tmp_path / "data.bin"
    data.write_bytes(b"proces-verbal de remise de carte, guichet 3")
    signature = tmp_path / "sig.der"
    tools("pkcs11-tool", "--module", PKCS11, "--slot-description", reader.name, "--login", "--pin", "246810",
          "--sign", "--mechanism", "ECDSA-SHA256", "--id", "01", "--signature-format", "openssl",
          "--input-file", str(data), "--output-file", str(signature))
    card_cert(counter.home).public_key().verify(signature.read_bytes(), data.read_bytes(), ec.ECDSA(hashes.SHA256()))
    # A signature without the PIN: the card itself refuses (no cache to hide behind).
    refused = tools("pkcs11-tool", "--module", PKCS11, "--slot-description", reader.name, "--sign",
                    "--mechanism", "ECDSA-SHA256", "--id", "01", "--input-file", str(data),
                    "--output-file", str(tmp_path / "nope"), check=False)
    assert refused.returncode != 0


def test_opensc_reads_the_card_serial_from_the_chuid(counter, reader, tools):
    reader.insert(counter.home, "claire")
    guid = bytes.fromhex(ca.read_card(counter.home, "claire")["objects"]["5FC102"])[29:45]  # 30 19 <FASC-N> 34 10 <GUID>
    dump = tools("pkcs15-tool", "--reader", reader.name, "--dump").stdout
    assert f"Serial number  : {guid.hex()}" in dump and "Claire Moreau" in dump
    assert "Personal Identity Verification Card" in tools("opensc-tool", "--reader", reader.name, "--name").stdout


def test_pkcs15_tool_changes_then_unblocks_the_pin(counter, reader, tools):
    reader.insert(counter.home, "claire")
    tools("pkcs15-tool", "--reader", reader.name, "--change-pin", "--pin", "246810", "--new-pin", "771177")
    assert authenticate(counter, "771177", reader.name).identity.uid == "claire"
    for _ in range(3):
        tools("yubico-piv-tool", "-r", reader.name, "-a", "verify-pin", "-P", "000000", check=False)
    assert ca.read_card(counter.home, "claire")["pin_tries"] == 0
    tools("pkcs15-tool", "--reader", reader.name, "--unblock-pin", "--puk", "12345678", "--new-pin", "880088")
    assert authenticate(counter, "880088", reader.name).identity.uid == "claire"
    assert ca.read_card(counter.home, "claire")["pin_tries"] == 3


def test_pcsc_scan_reports_a_valid_atr(counter, reader, tools):
    reader.insert(counter.home, "claire")
    listing = tools("pcsc_scan", "-c").stdout
    block = listing[listing.index(reader.name):]
    atr = block[block.index("ATR: ") + 5:].splitlines()[0].strip()
    assert bytes.fromhex(atr.replace(" ", "")) == ATR
    analysis = tools("ATR_analysis", atr).stdout
    assert "TCK = 7B (correct checksum)" in analysis and "WRONG" not in analysis.upper()
    assert "compact TLV" in analysis and "Command chaining" in analysis


def test_both_tools_read_the_same_certificate(counter, reader, tools, tmp_path):
    """pkcs15-tool and yubico-piv-tool read the same certificate bytes."""
    reader.insert(counter.home, "claire")
    listed = tools("pkcs15-tool", "--reader", reader.name, "--read-certificate", "01").stdout
    pem = tools("yubico-piv-tool", "-r", reader.name, "-a", "read-certificate", "-s", "9a").stdout
    assert x509.load_pem_x509_certificate(listed.encode()) == x509.load_pem_x509_certificate(pem.encode()) \
        == card_cert(counter.home)


def test_the_security_object_verifies_with_openssl_after_enrolment(tmp_path, reader, tools):
    """Enrol a factory card, read its security object back through pcscd, and
    have OpenSSL (not our code) check the CMS signature against the city CA and
    the hash of the CHUID it covers."""
    from card import objects, tlv
    from card.enrolment import enrol
    from card.piv import PivCard
    from card.reader import Pcsc
    with Terminal.init(tmp_path / "home", "MAIRIE-01") as t:
        ca.ensure(t.home)
        ca.blank(t.home, "spare1")
        reader.insert(t.home, "spare1")
        enrol(t, reader.name, "claire", "Claire Moreau", "agent", "246810")
        with Pcsc() as pcsc, pcsc.connect(reader.name) as link:
            piv = PivCard(link)
            piv.select()
            chuid, security = piv.get_data(objects.CHUID), piv.get_data(objects.SECURITY)
        assert tlv.find(security, 0xBA) == bytes.fromhex("013000")  # data group 1 is the CHUID container
        (tmp_path / "so.der").write_bytes(tlv.find(security, 0xBB))
        tools("openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "so.der"), "-purpose", "any",
              "-CAfile", str(t.home / "ca" / "agent-ca.pem"), "-out", str(tmp_path / "lds.der"))
        version, algorithm, hashed = tlv.parse(tlv.one((tmp_path / "lds.der").read_bytes(), 0x30))
        [(_, group)] = tlv.parse(hashed[1])  # one data group: SEQUENCE { INTEGER 1, OCTET STRING hash }
        assert tlv.parse(group) == [(0x02, b"\x01"), (0x04, hashlib.sha256(chuid).digest())]
        # Tampering with the signed object: OpenSSL refuses it.
        tampered = bytearray(tlv.find(security, 0xBB))
        tampered[-5] ^= 0x01
        (tmp_path / "bad.der").write_bytes(bytes(tampered))
        refused = tools("openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "bad.der"),
                        "-purpose", "any", "-CAfile", str(t.home / "ca" / "agent-ca.pem"), "-out", str(tmp_path / "x"),
                        check=False)
        assert refused.returncode != 0 and "Verification successful" not in refused.stdout + refused.stderr
