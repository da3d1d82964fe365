"""A virtual PIV card for development and CI, plugged into the real pcscd
through Debian's vsmartcard-vpcd driver, so the login under test is the
production path (pyscard → pcscd → reader driver → card).

The vpcd protocol: the card connects to the driver's TCP port (one per reader
slot); each message is a 2-byte big-endian length then either a 1-byte control
(0 power off, 1 power on, 2 reset, 4 ask for the ATR) or an APDU, which the
card answers with one message. Two Linux details matter for speed: TCP_QUICKACK
is reset after every receive, so it is set again before each one, and each
answer goes out in a single send; otherwise every APDU waits ~45 ms on delayed
ACKs.

The vpcd driver listens on every interface, so this is for development and
tests only; ``beffroi card serve`` refuses to run on a production terminal.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from hub.durable import write_private

from . import ca, management, objects, tlv
from .apdu import Command, Response
from .errors import CardError, CardProtocolError
from .piv import AID, ALG_ECC_P256, ALG_ECC_P384, PIN_REF, PUK_REF, valid_reference

VPCD_PORTS = (35963, 35964)  # vsmartcard-vpcd's reader slots 0 and 1


def _atr() -> bytes:
    """T=0 and T=1 offered; historical bytes in compact-TLV (category 80): card
    issuer's data "Beffroi", then card capabilities saying command chaining is
    supported (no extended length); TCK is the XOR of T0 to the last byte."""
    historical = bytes([0x80, 0x57]) + b"Beffroi" + bytes([0x73, 0x00, 0x00, 0x80])
    body = bytes([0x80 | len(historical), 0x80, 0x01]) + historical
    check = 0
    for byte in body:
        check ^= byte
    return b"\x3b" + body + bytes([check])


ATR = _atr()
FULL_AID = objects.PIV_AID
# Faulty, old or plain-PIV cards, for tests: "piv-only" lacks YubiKey's extensions.
BEHAVIOURS = ("honest", "replay", "other-challenge", "legacy", "piv-only")
YUBIKEY_EXTENSIONS = (0xFD, 0xF8, 0xFF)  # GET VERSION, GET SERIAL, SET MANAGEMENT KEY
CURVES = {ALG_ECC_P256: ec.SECP256R1(), ALG_ECC_P384: ec.SECP384R1()}
DIGEST = {ALG_ECC_P256: (32, hashes.SHA256()), ALG_ECC_P384: (48, hashes.SHA384())}
KEY_SLOTS = (0x9A, 0x9C, 0x9D, 0x9E)
DEFAULT_PIN, DEFAULT_PUK = "123456", "12345678"  # what every PIV card and YubiKey ships with
MAX_TRIES = 3
VERSION = bytes([5, 4, 3])  # answered to YubiKey's GET VERSION, the extension Yubico's tools need

_POWER_OFF, _POWER_ON, _RESET, _ATR = 0, 1, 2, 4


def _sw(sw: int, data: bytes = b"") -> bytes:
    return Response(data, sw).to_bytes()


def factory_file(serial: int) -> dict[str, Any]:
    """A card as it leaves the factory: default PIN, PUK and management key,
    no key, no certificate, only the discovery object (as on a new YubiKey)."""
    return {"format": 2, "serial": serial,
            "pin": ca.hash_pin(DEFAULT_PIN), "pin_tries": MAX_TRIES, "pin_max": MAX_TRIES,
            "puk": ca.hash_pin(DEFAULT_PUK), "puk_tries": MAX_TRIES, "puk_max": MAX_TRIES,
            "management": {"alg": management.ALG_3DES, "key": management.DEFAULT_KEY.hex()},
            "keys": {}, "objects": {}}


class VirtualCard:
    """The card's applet: APDU in, answer out. What a real card keeps in its
    EEPROM (PIN and PUK counters, keys, data objects, the management key) is
    kept in the card file, so a blocked card stays blocked across restarts.

    Security status follows SP 800-73-4 Part 2 §3.1.1: selecting the PIV
    application again leaves the verified PIN as it is, and a SELECT of an
    application the card does not have leaves PIV selected (6A82)."""

    def __init__(self, path: Path, behaviour: str = "honest", random: Callable[[int], bytes] = os.urandom) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {BEHAVIOURS}")
        self.path = Path(path)
        self.behaviour = behaviour
        self.random = random
        self.file: dict[str, Any] = json.loads(self.path.read_text("utf-8"))
        if self.file.get("format") != 2:
            raise CardError(f"{self.path} is a card file of an older format; issue the card again",
                            f"{self.path} est un fichier de carte d'un ancien format ; émettez de nouveau la carte",
                            "old_card_file")
        self.uid = self.file.get("uid") or self.path.stem
        self.first_signature: bytes | None = None
        self.apdus = 0  # commands answered, for the benchmarks
        self.power()

    @classmethod
    def of(cls, home: Path, uid: str, behaviour: str = "honest") -> "VirtualCard":
        ca.read_card(home, uid)  # a clear error when there is no such card
        return cls(ca.card_path(home, uid), behaviour)

    def power(self) -> None:
        """Power on, off or reset: back to nothing selected, nothing verified."""
        self.selected = False
        self.verified = False
        self.managed = False  # the management key authenticated
        self.pending = b""
        self.chain = b""
        self.witness: bytes | None = None
        self.challenge: bytes | None = None

    def _save(self) -> None:
        write_private(self.path, json.dumps(self.file, indent=2).encode())

    def _answer(self, data: bytes, le: int | None) -> bytes:
        """Answer with at most Le (≤ 256) bytes; the rest waits for GET RESPONSE (61xx)."""
        size = min(le or 256, 256)
        head, self.pending = data[:size], data[size:]
        if self.pending:
            return _sw(0x6100 | (min(len(self.pending), 256) & 0xFF), head)
        return _sw(0x9000, head)

    def process(self, raw: bytes) -> bytes:
        self.apdus += 1
        try:
            cmd = Command.parse(raw)
        except CardProtocolError:
            self.pending = self.chain = b""
            return _sw(0x6700)
        if cmd.ins == 0xC0 and cmd.cla == 0x00:
            if not self.pending:
                return _sw(0x6985)
            return self._answer(self.pending, cmd.le)
        self.pending = b""
        if cmd.cla == 0x10:  # command chaining (ISO 7816-4 §5.1.1): keep the data for the last command
            if len(self.chain) + len(cmd.data) > 4096:
                self.chain = b""
                return _sw(0x6A84)
            self.chain += cmd.data
            return _sw(0x9000)
        if cmd.cla != 0x00:
            self.chain = b""
            return _sw(0x6E00)
        data = cmd.data
        if self.chain:
            data, self.chain = self.chain + data, b""
        if cmd.ins == 0xA4:
            return self._select(cmd, data)
        if not self.selected:
            return _sw(0x6985)
        if self.behaviour == "piv-only" and cmd.ins in YUBIKEY_EXTENSIONS:
            return _sw(0x6D00)
        handler = {0xCB: self._get_data, 0x20: self._verify, 0x24: self._change, 0x2C: self._reset_retry,
                   0x87: self._authenticate, 0x47: self._generate, 0xDB: self._put_data,
                   0xFD: self._version, 0xF8: self._serial, 0xFF: self._set_management_key}.get(cmd.ins)
        return handler(cmd, data) if handler else _sw(0x6D00)

    # --- selection and reading -------------------------------------------------

    def _select(self, cmd: Command, data: bytes) -> bytes:
        if (cmd.p1, cmd.p2) != (0x04, 0x00):
            return _sw(0x6A86)
        if len(data) < len(AID) or not FULL_AID.startswith(data):
            return _sw(0x6A82)  # another application: PIV stays selected, its security status unchanged
        if not self.selected:
            self.selected, self.verified, self.managed = True, False, False
        algorithms = b"".join(tlv.encode(0x80, bytes([a])) for a in (management.ALG_3DES, ALG_ECC_P256, ALG_ECC_P384))
        template = tlv.encode(0x61, tlv.encode(0x4F, FULL_AID[5:]) + tlv.encode(0x79, tlv.encode(0x4F, AID))
                              + tlv.encode(0x50, b"Beffroi virtual PIV")
                              + tlv.encode(0xAC, algorithms + tlv.encode(0x06, b"")))
        return self._answer(template, cmd.le)

    def _get_data(self, cmd: Command, data: bytes) -> bytes:
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF):
            return _sw(0x6A86)
        try:
            wanted = tlv.one(data, 0x5C)
        except CardProtocolError:
            return _sw(0x6A80)
        if wanted == objects.DISCOVERY:
            return self._answer(objects.discovery(), cmd.le)
        stored = self.file["objects"].get(wanted.hex().upper())
        if stored is None:
            return _sw(0x6A82)
        if wanted in objects.PIN_GUARDED and not self.verified:
            return _sw(0x6982)
        return self._answer(tlv.encode(0x53, bytes.fromhex(stored)), cmd.le)

    def _version(self, cmd: Command, data: bytes) -> bytes:
        return self._answer(VERSION, cmd.le)

    def _serial(self, cmd: Command, data: bytes) -> bytes:
        return self._answer(int(self.file.get("serial", 0)).to_bytes(4, "big"), cmd.le)

    # --- PIN and PUK --------------------------------------------------------------

    def _check(self, ref: int, block: bytes) -> int | None:
        """Compare a reference data block; None when right, else the status word
        (tries left, or blocked). A wrong value costs one try, persistently."""
        name = "pin" if ref == PIN_REF else "puk"
        tries = self.file[f"{name}_tries"]
        if tries == 0:
            return 0x6983
        if not ca.check_pin(block.rstrip(b"\xff").decode(), self.file[name]):
            self.file[f"{name}_tries"] = tries - 1
            self._save()
            return self._wrong(tries - 1)
        if tries != self.file[f"{name}_max"]:
            self.file[f"{name}_tries"] = self.file[f"{name}_max"]
            self._save()
        return None

    def _wrong(self, tries: int) -> int:
        return (0x6300 if self.behaviour == "legacy" else 0x63C0) | tries

    def _verify(self, cmd: Command, data: bytes) -> bytes:
        if cmd.p2 != PIN_REF:
            return _sw(0x6A88 if cmd.p2 == PUK_REF or cmd.p1 in (0x00, 0xFF) else 0x6A86)
        if cmd.p1 == 0xFF and not data:  # reset the PIN's security status (Part 2 §3.2.1)
            self.verified = False
            return _sw(0x9000)
        if cmd.p1 != 0x00:
            return _sw(0x6A86)
        tries = self.file["pin_tries"]
        if not data:  # status query
            if tries == 0:
                return _sw(0x6983)
            return _sw(0x9000) if self.verified else _sw(self._wrong(tries))
        if not valid_reference(PIN_REF, data):
            return _sw(0x6A80)
        refused = self._check(PIN_REF, data)
        self.verified = refused is None
        return _sw(refused or 0x9000)

    def _change(self, cmd: Command, data: bytes) -> bytes:
        """CHANGE REFERENCE DATA: old value then new value, 8 bytes each."""
        if cmd.p1 != 0x00 or cmd.p2 not in (PIN_REF, PUK_REF):
            return _sw(0x6A86 if cmd.p1 else 0x6A88)
        if len(data) != 16 or not valid_reference(cmd.p2, data[:8]) or not valid_reference(cmd.p2, data[8:]):
            return _sw(0x6A80)
        refused = self._check(cmd.p2, data[:8])
        if refused is not None:
            if cmd.p2 == PIN_REF:
                self.verified = False
            return _sw(refused)
        self.file["pin" if cmd.p2 == PIN_REF else "puk"] = ca.hash_pin(data[8:].rstrip(b"\xff").decode())
        self._save()
        return _sw(0x9000)

    def _reset_retry(self, cmd: Command, data: bytes) -> bytes:
        """RESET RETRY COUNTER: the PUK, then the new PIN; unblocks the PIN."""
        if (cmd.p1, cmd.p2) != (0x00, PIN_REF):
            return _sw(0x6A86 if cmd.p1 else 0x6A88)
        if len(data) != 16 or not valid_reference(PUK_REF, data[:8]) or not valid_reference(PIN_REF, data[8:]):
            return _sw(0x6A80)
        refused = self._check(PUK_REF, data[:8])
        if refused is not None:
            return _sw(refused)
        self.file["pin"] = ca.hash_pin(data[8:].rstrip(b"\xff").decode())
        self.file["pin_tries"] = self.file["pin_max"]
        self.verified = False
        self._save()
        return _sw(0x9000)

    # --- GENERAL AUTHENTICATE: management key and private keys -------------------

    def _authenticate(self, cmd: Command, data: bytes) -> bytes:
        try:
            fields = tlv.parse(tlv.one(data, 0x7C))
        except CardProtocolError:
            return _sw(0x6A80)
        if cmd.p2 == management.KEY_REF:
            return self._management(cmd, fields)
        if cmd.p2 not in KEY_SLOTS:
            return _sw(0x6A88)
        key = self.file["keys"].get(f"{cmd.p2:02X}")
        if key is None:
            return _sw(0x6A88)
        if cmd.p1 != key["alg"]:
            return _sw(0x6A86)
        if cmd.p2 != 0x9E and not self.verified:  # 9E, card authentication, needs no PIN
            return _sw(0x6982)
        size, hash_ = DIGEST[key["alg"]]
        if [t for t, _ in fields] != [0x82, 0x81] or fields[0][1] or len(fields[1][1]) != size:
            return _sw(0x6A80)
        challenge = fields[1][1]
        if self.behaviour == "other-challenge":
            challenge = bytes(b ^ 0x01 for b in challenge)
        private = serialization.load_pem_private_key(key["pem"].encode(), None)
        signature = private.sign(challenge, ec.ECDSA(Prehashed(hash_)))
        if self.behaviour == "replay":
            self.first_signature = self.first_signature or signature
            signature = self.first_signature
        return self._answer(tlv.encode(0x7C, tlv.encode(0x82, signature)), cmd.le)

    def _management(self, cmd: Command, fields: list[tuple[int, bytes]]) -> bytes:
        """Challenge/response with the 9B key (Part 2 Appendix A.1/A.2): the card
        encrypts a witness the client must decrypt (mutual), or the client
        encrypts the card's challenge (external). Any mismatch: 6982, state cleared."""
        alg, key = self.file["management"]["alg"], bytes.fromhex(self.file["management"]["key"])
        if cmd.p1 != alg:
            return _sw(0x6A86)
        size = management.block_size(alg)
        tags = [t for t, _ in fields]
        values = dict(fields)
        witness, challenge, self.witness, self.challenge = self.witness, self.challenge, None, None
        if tags == [0x80] and not values[0x80]:
            self.witness = self.random(size)
            return self._answer(tlv.encode(0x7C, tlv.encode(0x80, management.encrypt(alg, key, self.witness))), cmd.le)
        if tags == [0x81] and not values[0x81]:
            self.challenge = self.random(size)
            return self._answer(tlv.encode(0x7C, tlv.encode(0x81, self.challenge)), cmd.le)
        if tags == [0x80, 0x81] and len(values[0x81]) == size:
            if witness is None or values[0x80] != witness:
                self.managed = False
                return _sw(0x6982)
            self.managed = True
            return self._answer(tlv.encode(0x7C, tlv.encode(0x82, management.encrypt(alg, key, values[0x81]))), cmd.le)
        if tags == [0x82]:
            if challenge is None or values[0x82] != management.encrypt(alg, key, challenge):
                self.managed = False
                return _sw(0x6982)
            self.managed = True
            return _sw(0x9000)
        return _sw(0x6A80)

    # --- provisioning: guarded by the management key ----------------------------

    def _generate(self, cmd: Command, data: bytes) -> bytes:
        """GENERATE ASYMMETRIC KEY PAIR: a new key in the slot, only its public
        point comes out (7F49 / 86)."""
        if cmd.p1 != 0x00 or cmd.p2 not in KEY_SLOTS:
            return _sw(0x6A86 if cmd.p1 else 0x6A88)
        if not self.managed:
            return _sw(0x6982)
        try:
            control = dict(tlv.parse(tlv.one(data, 0xAC)))
        except CardProtocolError:
            return _sw(0x6A80)
        alg = control.get(0x80, b"")
        if len(alg) != 1 or alg[0] not in CURVES:
            return _sw(0x6A80)
        private = ec.generate_private_key(CURVES[alg[0]])
        self.file["keys"][f"{cmd.p2:02X}"] = {"alg": alg[0], "pem": private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()}
        self._save()
        point = private.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return self._answer(tlv.encode(0x7F49, tlv.encode(0x86, point)), cmd.le)

    def _put_data(self, cmd: Command, data: bytes) -> bytes:
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF):
            return _sw(0x6A86)
        if not self.managed:
            return _sw(0x6982)
        try:
            items = tlv.parse(data)
        except CardProtocolError:
            return _sw(0x6A80)
        if [t for t, _ in items] != [0x5C, 0x53]:
            return _sw(0x6A80)
        tag, content = items[0][1], items[1][1]
        if len(tag) != 3 or tag[:2] != b"\x5f\xc1" or not 0x01 <= tag[2] <= 0x23:
            return _sw(0x6A80)
        if content:
            self.file["objects"][tag.hex().upper()] = content.hex()
        else:  # an empty object deletes it
            self.file["objects"].pop(tag.hex().upper(), None)
        self._save()
        return _sw(0x9000)

    def _set_management_key(self, cmd: Command, data: bytes) -> bytes:
        """YubiKey's SET MANAGEMENT KEY (SP 800-73-4 leaves this to the card
        maker): 03 9B 18 <key>, only with the current key authenticated."""
        if cmd.p1 != 0xFF or cmd.p2 not in (0xFF, 0xFE):
            return _sw(0x6A86)
        if not self.managed:
            return _sw(0x6982)
        if len(data) < 3 or data[1] != management.KEY_REF or data[0] not in management.KEY_SIZES \
                or data[2] != management.KEY_SIZES[data[0]] or len(data) != 3 + data[2]:
            return _sw(0x6A80)
        self.file["management"] = {"alg": data[0], "key": data[3:].hex()}
        self._save()
        return _sw(0x9000)


class Insertion:
    """A virtual card inserted in one vpcd reader slot: a thread that answers the
    driver until :meth:`remove`. ``with Insertion(card, port):`` inserts and removes."""

    def __init__(self, card: VirtualCard, port: int = VPCD_PORTS[0], host: str = "127.0.0.1") -> None:
        self.card, self.port, self.host = card, port, host
        self.sock: socket.socket | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def insert(self) -> "Insertion":
        try:
            sock = socket.create_connection((self.host, self.port), timeout=5)
        except OSError as exc:
            raise CardError(f"cannot reach the vpcd reader driver on {self.host}:{self.port} ({exc.strerror or exc}); "
                            "is pcscd running with vsmartcard-vpcd installed?",
                            f"impossible de joindre le pilote de lecteur vpcd sur {self.host}:{self.port} "
                            f"({exc.strerror or exc}) ; pcscd tourne-t-il avec vsmartcard-vpcd installé ?",
                            "no_vpcd") from None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.thread = threading.Thread(target=self._serve, name=f"virtual-card-{self.port}", daemon=True)
        self.thread.start()
        return self

    def _recv(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self) -> None:
        try:
            while True:
                (size,) = struct.unpack(">H", self._recv(2))
                message = self._recv(size)
                if size == 1:
                    if message[0] == _ATR:
                        answer = ATR
                    else:  # power off / on / reset: no answer expected
                        self.card.power()
                        continue
                else:
                    answer = self.card.process(message)
                self.sock.sendall(struct.pack(">H", len(answer)) + answer)  # one send per answer
        except (EOFError, OSError):
            pass  # removed, or the driver went away
        except BaseException as exc:  # kept for whoever waits on this card
            self.error = exc

    def remove(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.sock = self.thread = None

    def wait(self) -> None:
        """Block until the driver disconnects (``beffroi card serve``)."""
        if self.thread is not None:
            self.thread.join()

    def __enter__(self) -> "Insertion":
        return self.insert() if self.sock is None else self

    def __exit__(self, *exc: object) -> None:
        self.remove()
