"""A fault-injecting HTTP/TCP proxy on loopback, between terminals and the SoR.

One request per connection (the proxy asks both sides to close after it),
and for each request a fault drawn from a seeded generator: pass, delay,
drop (never forwarded), cut (half the body forwarded, then both sides
closed), lose the answer (forwarded and done, but the terminal never hears
back), duplicate (played a second time to the SoR, as a replaying relay would).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter

FAULTS = ("pass", "delay", "drop", "cut", "lose_answer", "duplicate")


class FaultProxy:
    def __init__(self, upstream_port: int, seed: int = 7, rate: float = 0.35) -> None:
        self.upstream_port, self.rate = upstream_port, rate
        self.rng = random.Random(seed)
        self.seen: Counter = Counter()
        self.enabled = True
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _fault(self) -> str:
        if not self.enabled or self.rng.random() >= self.rate:
            return "pass"
        return self.rng.choice(FAULTS[1:])

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, int] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        kept = [lines[0]]
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
            if name.lower() in ("connection", "keep-alive") or not line:
                continue
            kept.append(line)
        body = await reader.readexactly(length) if length else b""
        return ("\r\n".join(kept) + "\r\nConnection: close\r\n\r\n").encode("latin-1") + body, len(body)

    async def _upstream(self, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        writer.write(request)
        await writer.drain()
        answer = await reader.read()
        writer.close()
        return answer

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            got = await self._read_request(reader)
            if got is None:
                return
            request, body_size = got
            fault = self._fault()
            self.seen[fault] += 1
            if fault == "drop":
                return
            if fault == "cut":
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                up_writer.write(request[: len(request) - max(1, body_size // 2)])
                await up_writer.drain()
                up_writer.close()
                return
            if fault == "delay":
                await asyncio.sleep(self.rng.uniform(0.05, 0.4))
            if fault == "duplicate":
                asyncio.ensure_future(self._upstream(request))
            answer = await self._upstream(request)
            if fault == "lose_answer":
                return
            writer.write(answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()
