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
import socket
import struct
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from hub.durable import write_private

from . import ca, tlv
from .apdu import Command, Response
from .errors import CardError, CardProtocolError
from .piv import AID, ALG_ECC_P256, CERT_9A, PIN_REF, SLOT_9A

VPCD_PORTS = (35963, 35964)  # vsmartcard-vpcd's reader slots 0 and 1
ATR = bytes.fromhex("3B8C80018042656666726F692D50495622")  # T=1, historical bytes "Beffroi-PIV"
FULL_AID = AID + bytes.fromhex("000010000100")
BEHAVIOURS = ("honest", "replay", "other-challenge")  # the last two are faulty cards, for tests

_POWER_OFF, _POWER_ON, _RESET, _ATR = 0, 1, 2, 4


def _sw(sw: int, data: bytes = b"") -> bytes:
    return Response(data, sw).to_bytes()


class VirtualCard:
    """The card's applet: APDU in, answer out. Its PIN tries counter is kept in the
    card file so that a blocked card stays blocked across restarts."""

    def __init__(self, path: Path, behaviour: str = "honest") -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {BEHAVIOURS}")
        self.path = Path(path)
        self.behaviour = behaviour
        self.file: dict[str, Any] = json.loads(self.path.read_text("utf-8"))
        self.key = serialization.load_pem_private_key(self.file["key"].encode(), None)
        self.cert_der = x509.load_pem_x509_certificate(self.file["certificate"].encode()).public_bytes(
            serialization.Encoding.DER)
        self.uid = self.file["uid"]
        self.first_signature: bytes | None = None
        self.power()

    @classmethod
    def of(cls, home: Path, uid: str, behaviour: str = "honest") -> "VirtualCard":
        ca.read_card(home, uid)  # a clear error when there is no such card
        return cls(ca.card_path(home, uid), behaviour)

    def power(self) -> None:
        """Power on, off or reset: back to nothing selected, PIN not verified."""
        self.selected = False
        self.verified = False
        self.pending = b""

    def _save_tries(self, tries: int) -> None:
        if self.file["tries"] != tries:
            self.file["tries"] = tries
            write_private(self.path, json.dumps(self.file, indent=2).encode())

    def _answer(self, data: bytes, le: int | None) -> bytes:
        """Answer with at most Le (≤ 256) bytes; the rest waits for GET RESPONSE (61xx)."""
        size = min(le or 256, 256)
        head, self.pending = data[:size], data[size:]
        if self.pending:
            return _sw(0x6100 | (min(len(self.pending), 256) & 0xFF), head)
        return _sw(0x9000, head)

    def process(self, raw: bytes) -> bytes:
        try:
            cmd = Command.parse(raw)
        except CardProtocolError:
            self.pending = b""
            return _sw(0x6700)
        if cmd.ins == 0xC0 and cmd.cla == 0x00:
            if not self.pending:
                return _sw(0x6985)
            return self._answer(self.pending, cmd.le)
        self.pending = b""
        if cmd.cla == 0x10:
            return _sw(0x6884)
        if cmd.cla != 0x00:
            return _sw(0x6E00)
        if cmd.ins == 0xA4:
            return self._select(cmd)
        if not self.selected:
            return _sw(0x6985)
        handler = {0xCB: self._get_data, 0x20: self._verify, 0x87: self._authenticate}.get(cmd.ins)
        return handler(cmd) if handler else _sw(0x6D00)

    def _select(self, cmd: Command) -> bytes:
        if (cmd.p1, cmd.p2) != (0x04, 0x00):
            return _sw(0x6A86)
        if len(cmd.data) < len(AID) or not FULL_AID.startswith(cmd.data):
            self.selected = False
            return _sw(0x6A82)
        self.selected, self.verified = True, False
        template = tlv.encode(0x61, tlv.encode(0x4F, FULL_AID[5:]) + tlv.encode(0x79, tlv.encode(0x4F, AID))
                              + tlv.encode(0xAC, tlv.encode(0x80, bytes([ALG_ECC_P256])) + tlv.encode(0x06, b"")))
        return self._answer(template, cmd.le)

    def _get_data(self, cmd: Command) -> bytes:
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF):
            return _sw(0x6A86)
        try:
            wanted = tlv.one(cmd.data, 0x5C)
        except CardProtocolError:
            return _sw(0x6A80)
        if wanted != CERT_9A:
            return _sw(0x6A82)
        body = tlv.encode(0x70, self.cert_der) + tlv.encode(0x71, b"\x00") + tlv.encode(0xFE, b"")
        return self._answer(tlv.encode(0x53, body), cmd.le)

    def _verify(self, cmd: Command) -> bytes:
        if (cmd.p1, cmd.p2) != (0x00, PIN_REF):
            return _sw(0x6A86 if cmd.p1 != 0x00 else 0x6A88)
        tries = self.file["tries"]
        if not cmd.data:  # status query
            if tries == 0:
                return _sw(0x6983)
            return _sw(0x9000) if self.verified else _sw(0x63C0 | tries)
        if len(cmd.data) != 8:
            return _sw(0x6A80)
        if tries == 0:
            return _sw(0x6983)
        pin = cmd.data.rstrip(b"\xff")
        if not (pin.isdigit() and ca.check_pin(pin.decode(), self.file["pin"])):
            self.verified = False
            self._save_tries(tries - 1)
            return _sw(0x63C0 | (tries - 1))
        self._save_tries(self.file["max_tries"])
        self.verified = True
        return _sw(0x9000)

    def _authenticate(self, cmd: Command) -> bytes:
        if (cmd.p1, cmd.p2) != (ALG_ECC_P256, SLOT_9A):
            return _sw(0x6A86)
        if not self.verified:
            return _sw(0x6982)
        try:
            fields = tlv.parse(tlv.one(cmd.data, 0x7C))
        except CardProtocolError:
            return _sw(0x6A80)
        if [t for t, _ in fields] != [0x82, 0x81] or fields[0][1] or len(fields[1][1]) != 32:
            return _sw(0x6A80)
        challenge = fields[1][1]
        if self.behaviour == "other-challenge":
            challenge = bytes(b ^ 0x01 for b in challenge)
        signature = self.key.sign(challenge, ec.ECDSA(Prehashed(hashes.SHA256())))
        if self.behaviour == "replay":
            self.first_signature = self.first_signature or signature
            signature = self.first_signature
        return self._answer(tlv.encode(0x7C, tlv.encode(0x82, signature)), cmd.le)


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
