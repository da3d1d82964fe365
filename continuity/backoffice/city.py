"""All four simulators together, as a city's back offices: started on loopback
ports, each with its store in one folder (``<name>.db``), their URLs written
to ``backoffice.json`` there so terminals can be pointed at them."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from .simulator import Faults, Simulator
from .systems import SYSTEMS

URLS_FILE = "backoffice.json"


class Backoffices:
    def __init__(self, folder: Path, faults: Faults | None = None, seed: int | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        rng = random.Random(seed)
        # One generator per system, seeded from the city's: a run is reproducible.
        self.simulators = {name: Simulator(system, self.folder / f"{name}.db",
                                           Faults(**vars(faults)) if faults else Faults(),
                                           random.Random(rng.random()))
                           for name, system in SYSTEMS.items()}
        self.runners: dict[str, web.AppRunner] = {}
        self.urls: dict[str, str] = {}

    async def start(self, host: str = "127.0.0.1", ports: dict[str, int] | None = None) -> dict[str, str]:
        """Listen (again, on the same ports after a :meth:`stop`, if they were given or known)."""
        for name, simulator in self.simulators.items():
            runner = web.AppRunner(simulator.app(), access_log=None)
            await runner.setup()
            port = (ports or {}).get(name) or _port_of(self.urls.get(name)) or 0
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            self.runners[name] = runner
            self.urls[name] = f"http://{host}:{runner.addresses[0][1]}"
        (self.folder / URLS_FILE).write_text(json.dumps(self.urls, indent=2))
        return dict(self.urls)

    async def stop(self) -> None:
        """Stop listening (the back offices are down); the stores stay."""
        for runner in self.runners.values():
            await runner.cleanup()
        self.runners.clear()

    def set_faults(self, **changes: Any) -> None:
        for simulator in self.simulators.values():
            simulator.faults.update(changes)

    def stats(self) -> dict[str, dict[str, Any]]:
        return {name: s.stats() for name, s in self.simulators.items()}

    def close(self) -> None:
        for simulator in self.simulators.values():
            simulator.close()


def _port_of(url: str | None) -> int | None:
    return int(url.rsplit(":", 1)[1]) if url else None


class ThreadBackoffices:
    """The simulators on their own event loop in a thread, for synchronous
    callers (the drill, benchmarks): the terminal side runs its own loop."""

    def __init__(self, folder: Path, faults: Faults | None = None, seed: int | None = None) -> None:
        self.offices = Backoffices(folder, faults, seed)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def start(self, ports: dict[str, int] | None = None) -> dict[str, str]:
        return self._run(self.offices.start(ports=ports))

    def stop(self) -> None:
        self._run(self.offices.stop())

    def set_faults(self, **changes: Any) -> None:
        self.loop.call_soon_threadsafe(lambda: self.offices.set_faults(**changes))

    def stats(self) -> dict[str, dict[str, Any]]:
        return self._run(_call(self.offices.stats))

    def close(self) -> None:
        self._run(self.offices.stop())
        self._run(_call(self.offices.close))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def urls(self) -> dict[str, str]:
        return dict(self.offices.urls)


async def _call(fn):
    return fn()


async def serve(folder: Path, host: str, port: int, faults: Faults, seed: int | None) -> None:
    """`beffroi backoffice serve`: run until SIGINT/SIGTERM. With ``port`` > 0
    the four systems take it and the three after it."""
    offices = Backoffices(folder, faults, seed)
    ports = {name: port + i for i, name in enumerate(SYSTEMS)} if port else None
    urls = await offices.start(host, ports)
    for name, url in urls.items():
        print(f"{name} listening on {url}", flush=True)
    print(f"URLs written to {folder / URLS_FILE}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        await offices.stop()
        offices.close()
