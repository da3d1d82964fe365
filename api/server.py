"""The terminal's local HTTP server: ``/api/v1`` (the hub), ``/open311/v2``
(GeoReport v2) and ``/openapi.json`` (the document describing both).

Two connections to the terminal database: one reads (WAL lets it read while a
commit is on disk), one writes, through the group committer.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from hub.catalog import Catalog
from hub.terminal import Terminal

from . import intake, keys, openapi
from .commit import Committer
from .formats import errors as open311_errors
from .open311 import MODES, Open311
from .readers import Readers
from .routes import Desk, Refused

MAX_BODY = 64 * 1024  # no form or JSON body of this API comes near it
BODY_SECONDS = 10.0    # a body of at most MAX_BODY arrives within this on any working link
SWITCH_SECONDS = 0.001
HEADER_SECONDS = 15.0  # a connection sends its request line and headers within this, or is closed (slowloris)
DRAIN_EVERY = 1.0     # seconds between intake checks in batch mode when nothing wakes the drain
SERVER_KEY: web.AppKey["Server"] = web.AppKey("beffroi_server")
ROUTING = {
    404: ("no such address; /openapi.json lists them", "adresse inconnue ; /openapi.json les liste"),
    405: ("this address does not take this method; see /openapi.json",
          "cette adresse n'accepte pas cette méthode ; voir /openapi.json"),
}

# The Open311 answers reads filtered by service and date: an index of our own,
# made again on start if a rebuild dropped the projections.
OPEN311_INDEX = "CREATE INDEX IF NOT EXISTS api_cases_opened ON cases (service, opened_hlc)"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "beffroi"


class Server:
    def __init__(self, home: Path, open311_mode: str = "realtime", jurisdiction: str | None = None,
                 max_body: int = MAX_BODY, body_seconds: float = BODY_SECONDS, catalog: Catalog | None = None) -> None:
        if open311_mode not in MODES:
            raise ValueError(f"open311 mode must be one of {MODES}")
        self.home = Path(home)
        self.open311_configured = open311_mode
        self.max_body = max_body
        self.body_seconds = body_seconds
        self.writer = Terminal.open(self.home, catalog=catalog)
        self.reader = Terminal.open(self.home, catalog=catalog)
        self.catalog = self.reader.catalog
        self.city = self.reader.city
        self.jurisdiction = jurisdiction or slug(self.city)
        with self.writer.journal.transaction():
            keys.ensure(self.writer.conn)
            intake.ensure(self.writer.conn)
            self.writer.conn.execute(OPEN311_INDEX)
        self.committer = Committer(self.writer)
        self.readers = Readers(self.home, catalog=catalog)
        self.intake_waiting = asyncio.Event()
        self.drainer: asyncio.Task | None = None

    @property
    def open311_mode(self) -> str:
        """Batch (a token, the case filed behind) while the terminal is isolated,
        whatever was configured: the reporter never waits on a cut-off city;
        back to the configured mode once the incident is over."""
        if self.reader.mode().name == "isolated":
            return "batch"
        return self.open311_configured

    def open311_cache_keys(self) -> list[tuple]:
        return list(self.open311.rendered)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body, middlewares=[self.errors])
        app[SERVER_KEY] = self
        app.add_routes(Desk(self).routes())
        self.open311 = Open311(self)
        app.add_routes(self.open311.routes())
        app.add_routes([web.get("/openapi.json", self.openapi)])
        from hub import scrape

        from . import metrics
        collector = metrics.FootprintCollector(self.reader, self.writer.pending)
        app.add_routes([web.get("/metrics", metrics.handler(metrics.registry(collector), scrape.token(self.home)))])
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi.document(self))

    @web.middleware
    async def errors(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """Every refusal as data: Open311's error list under /open311, the hub's
        error object elsewhere; an unexpected failure is logged and answered 500
        without details."""
        open311 = request.path.startswith("/open311/")
        fmt = "xml" if request.path.endswith(".xml") else "json"
        try:
            return await handler(request)
        except Refused:
            raise
        except web.HTTPRequestEntityTooLarge:
            if open311:
                return open311_errors(fmt, 400, [f"the request body is larger than {self.max_body} bytes / "
                                                 f"le corps de la requête dépasse {self.max_body} octets"])
            return _refused(413, "too_large", f"the request body is larger than {self.max_body} bytes",
                            f"le corps de la requête dépasse {self.max_body} octets")
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            en, fr = ROUTING.get(exc.status, (exc.reason, exc.reason))
            where = f"{request.method} {request.path}"
            if open311:
                answer = open311_errors(fmt, exc.status, [f"{en}: {where} / {fr} : {where}"])
                if "Allow" in exc.headers:
                    answer.headers["Allow"] = exc.headers["Allow"]
                return answer
            return _refused(exc.status, exc.reason.lower().replace(" ", "_"), f"{en}: {where}", f"{fr} : {where}",
                            exc.headers)

    async def _start(self, app: web.Application) -> None:
        # always: an incident can switch Open311 to batch at any time
        self.drainer = asyncio.ensure_future(self._drain_loop())

    async def _stop(self, app: web.Application) -> None:
        if self.drainer is not None:
            self.drainer.cancel()
            try:
                await self.drainer
            except asyncio.CancelledError:
                pass
        self.committer.close()
        self.readers.close()
        self.writer.close()
        self.reader.close()

    async def _drain_loop(self) -> None:
        """Turn intake reports into cases: at once when one arrives, and at
        start for any left from before a restart."""
        while True:
            self.intake_waiting.clear()  # before looking, so a report arriving meanwhile wakes us again
            if intake.pending(self.reader.conn):
                await self.committer.run(lambda: intake.drain(self.writer))
                continue
            try:
                await asyncio.wait_for(self.intake_waiting.wait(), DRAIN_EVERY)
            except TimeoutError:
                pass

def _refused(status: int, code: str, en: str, fr: str, headers=None) -> web.Response:
    extra = {k: v for k, v in (headers or {}).items() if k.lower() in ("allow", "www-authenticate")}
    return web.Response(text=json.dumps({"error": {"code": code, "en": en, "fr": fr}}, ensure_ascii=False),
                        status=status, content_type="application/json", headers=extra)


async def serve(home: Path, host: str = "127.0.0.1", port: int = 8311, open311_mode: str = "realtime",
                jurisdiction: str | None = None, ready: Callable[[str], None] | None = None,
                header_seconds: float = HEADER_SECONDS, body_seconds: float = BODY_SECONDS,
                started: Callable[["Server"], None] | None = None, catalog: Catalog | None = None) -> None:
    """Run until cancelled; ``ready`` gets the base URL once the port is bound
    (port 0 picks a free one), ``started`` the server object (tests)."""
    # Reading threads run Python too (rows to dicts, JSON): hand the GIL back to
    # the loop every millisecond rather than every five, so health stays quick.
    sys.setswitchinterval(SWITCH_SECONDS)
    server = Server(home, open311_mode, jurisdiction, body_seconds=body_seconds, catalog=catalog)
    if started is not None:
        started(server)
    # aiohttp's keep-alive timer also runs from the connection's start until a
    # whole request head has arrived: it is our header deadline.
    runner = web.AppRunner(server.app(), access_log=None, keepalive_timeout=header_seconds)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if ready is not None:
        ready(f"http://{host}:{bound}")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
