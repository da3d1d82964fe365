"""Raw TCP clients for the hostile-network tests: they talk to the SoR and the
API the way an attacker would, below any HTTP library."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def head_of(sock: socket.socket) -> bytes:
    """What the server sends up to the end of its answer's head (or until it closes)."""
    data = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data
