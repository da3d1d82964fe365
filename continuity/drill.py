"""`beffroi drill`: the whole incident story on one machine, end to end.

A city in a temporary folder — its SoR, N terminals enrolled in it, the four
back-office simulators — lives through: online service → the SoR and the back
offices die → every terminal notices (degraded) → an incident is declared →
each terminal serves M mixed démarches offline, with receipts, and with
planted conflicts (one case moved on two terminals, one person registered on
two terminals) → the SoR and back offices come back → the incident ends →
recovery (verify, exchange, conflicts shown, outbox drained) → an agent
accepts the merge proposal and resolves the conflict → every terminal holds
the same state. It prints what happened and how long each part took.

It uses the real parts: the SoR app and the simulators are real aiohttp
servers on loopback ports (stopped and restarted on the same ports), the
terminals real homes on disk, replication real sealed segments.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.catalog import default_catalog
from hub.demo import FIRST, LAST, STREETS, sample_fields
from hub.errors import HubError
from hub.roles import Principal
from hub.terminal import Terminal

from .backoffice.city import ThreadBackoffices
from .backoffice.simulator import Faults
from .connectors import Connectors, configure
from .outbox import Outbox, Policy
from .recovery import Recovery, decide, proposals, write_pdf

AGENT = Principal.agent("drill")
TODAY = dt.date(2026, 11, 30)
# Fast retries: a drill is minutes, not the days an incident lasts.
DRILL_POLICY = Policy(max_tries=60, base_s=0.05, cap_s=1.0, lease_s=30, timeout_s=1.0, concurrency=8)


class ThreadSoR:
    """The SoR app on its own event loop in a thread; stop() and start() again
    on the same port, as a data centre going down and coming back."""

    def __init__(self, home: Path) -> None:
        from replication.blobs import open_store
        self.home = home
        self.store = open_store(home, None)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner: web.AppRunner | None = None
        self.port = 0

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def start(self) -> str:
        from replication.sor import make_app

        async def up() -> None:
            self.runner = web.AppRunner(make_app(self.home, self.store), access_log=None)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()
            self.port = self.runner.addresses[0][1]
        self._run(up())
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.runner is not None:
            self._run(self.runner.cleanup())
            self.runner = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Drill:
    def __init__(self, folder: Path, terminals: int, demarches: int, error_rate: float, seed: int,
                 progress: Callable[[str], None] = lambda line: None) -> None:
        if not 2 <= terminals <= 20:
            raise HubError("--terminals must be between 2 and 20 (two are needed for the planted conflicts)",
                           "--terminals doit être compris entre 2 et 20 (il en faut deux pour les conflits plantés)")
        if not 1 <= demarches <= 100_000:
            raise HubError("--demarches must be between 1 and 100000", "--demarches doit être compris entre 1 et 100000")
        if not 0 <= error_rate <= 1:
            raise HubError("--backoffice-errors must be between 0 and 1",
                           "--backoffice-errors doit être compris entre 0 et 1")
        self.folder = Path(folder)
        self.n, self.m, self.rate = terminals, demarches, error_rate
        self.rng = random.Random(seed)
        self.seed = seed
        self.say = progress
        self.started = time.perf_counter()
        self.terminals: list[Terminal] = []

    def log(self, text: str) -> None:
        self.say(f"[{time.perf_counter() - self.started:7.2f} s] {text}")

    # --- the city ----------------------------------------------------------

    def build(self) -> None:
        from replication.enrolment import enroll
        from replication.index import Index, admin_keys, init_city
        self.sor_home = self.folder / "sor"
        init_city(self.sor_home, "Ville de Beffroi (exercice)", 3, 2)
        self.sor = ThreadSoR(self.sor_home)
        self.sor.start()
        faults = Faults.mixed(self.rate)
        faults.hang_s = DRILL_POLICY.timeout_s * 1.5   # longer than the connector waits: a timeout after accepting
        self.offices = ThreadBackoffices(self.folder / "backoffice", faults, self.seed)
        urls = self.offices.start()
        index = Index(self.sor_home)
        try:
            for i in range(self.n):
                # As IT staff do it: an invitation, the enrolment, approval of the fingerprint shown.
                t = Terminal.init(self.folder / f"T{i + 1}", f"MAIRIE-{i + 1:02d}")
                shown = asyncio.run(enroll(t, self.sor.url, index.invite(t.name)["code"]))
                index.approve(admin_keys(self.sor_home), t.id, shown["device_fingerprint"])
                for name, url in urls.items():
                    configure(t.home, name, url)
                self.terminals.append(t)
        finally:
            index.close()
        self.log(f"city built: SoR {self.sor.url}, {self.n} terminals, back offices {', '.join(urls)}")

    async def sync(self, t: Terminal) -> None:
        from replication.sync import Replicator
        replicator = Replicator(t)
        try:
            await replicator.sync(self.sor.url)
        finally:
            replicator.close()

    async def converge(self) -> None:
        """Two rounds: the first pushes everyone's segments, the second pulls them all."""
        for _ in range(2):
            for t in self.terminals:
                await self.sync(t)

    async def deliver(self, t: Terminal, **kwargs: Any) -> None:
        async with Connectors(_urls(t), DRILL_POLICY.timeout_s) as connectors:
            await Outbox(t, rng=self.rng, policy=DRILL_POLICY).drain(connectors, **kwargs)

    # --- service at the counter -----------------------------------------------

    def person(self) -> dict[str, Any]:
        return {"first_name": self.rng.choice(FIRST), "last_name": self.rng.choice(LAST),
                "birth_date": f"{self.rng.randint(1940, 2005)}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}",
                "postcode": "49000", "address": f"{self.rng.randint(1, 90)} {self.rng.choice(STREETS)}"}

    def serve(self, t: Terminal, count: int, allowed: Callable[[str], bool], batch: int = 200) -> None:
        """``count`` démarches at one counter: a citizen, a case, a payment when
        there is a fee, sometimes a step along the workflow. Committed in groups
        (one fsync per ``batch`` démarches) so a big drill is quick to set up."""
        session = t.session(AGENT)
        codes = [s.code for s in default_catalog() if allowed(s.code)]
        for start in range(0, count, batch):
            with t.group():
                for _ in range(min(batch, count - start)):
                    citizen = session.citizens.register(**self.person())
                    code = self.rng.choice(codes)
                    case = session.cases.open(code, citizen["id"], sample_fields(code, self.rng, citizen, TODAY))
                    if case["fee_cents"] > 0:
                        session.payments.take(case["id"], case["fee_cents"],
                                              self.rng.choice(["cash", "card", "cheque"]))
                    elif case["allowed"] and self.rng.random() < 0.3:
                        session.cases.move(case["id"], case["allowed"][0])

    # --- the story ---------------------------------------------------------------

    async def probe(self, t: Terminal) -> tuple[bool, str | None]:
        """One reachability check: the SoR's health and every back office's."""
        import aiohttp
        timeout = aiohttp.ClientTimeout(total=DRILL_POLICY.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, http.get(f"{self.sor.url}/v1/health") as r:
                sor_ok = r.status == 200
        except (TimeoutError, aiohttp.ClientError) as exc:
            sor_ok, error = False, f"SoR: {type(exc).__name__}"
        else:
            error = None if sor_ok else "SoR: not healthy"
        async with Connectors(_urls(t), DRILL_POLICY.timeout_s) as connectors:
            offices_ok = [await c.health() for c in connectors.values()]
        if not all(offices_ok):
            error = (error + "; " if error else "") + "back offices unreachable"
        return sor_ok and all(offices_ok), error

    async def degraded(self) -> float:
        """Kill the SoR and back offices; each terminal checks its upstreams
        (the continuity reachability rules) until it moves itself to degraded.
        Returns how long the slowest took."""
        from .reachability import Reachability
        killed = time.perf_counter()
        self.sor.stop()
        self.offices.stop()

        async def notices(t: Terminal) -> None:
            reach = Reachability(first_retry=0.2)
            while t.mode().name != "degraded":
                ok, error = await self.probe(t)
                reach.report(t, ok, error)
                if t.mode().name != "degraded":
                    await asyncio.sleep(reach.next_delay(1.0))
        await asyncio.wait_for(asyncio.gather(*(notices(t) for t in self.terminals)), 60)
        return time.perf_counter() - killed

    def order(self, kind: str, ends: str | None = None) -> bytes:
        """An incident order signed with the city admin key, as `beffroi incident declare/end` makes."""
        from replication.index import admin_keys, load_city

        from . import orders
        city = load_city(self.sor_home).public()
        ranges = {t.name: [1 + i * 100_000, (i + 1) * 100_000] for i, t in enumerate(self.terminals)}
        return orders.sign(admin_keys(self.sor_home).sign, kind=kind, city=city["city"],
                           admin_fingerprint=city["admin_fingerprint"], declared_by="DSI (exercice beffroi drill)",
                           reason="exercice : rançongiciel simulé au centre de données", scope=orders.Scope.parse("city"),
                           now=dt.datetime.now(dt.UTC), ranges=ranges if kind == "declare" else None, ends=ends)

    def apply(self, raw: bytes) -> None:
        from . import incident
        for t in self.terminals:
            incident.apply(t, raw, dt.datetime.now(dt.UTC))

    def run(self) -> dict[str, Any]:
        self.build()
        try:
            return asyncio.run(self.story())
        finally:
            for t in self.terminals:
                t.close()
            self.sor.close()
            self.offices.close()

    async def story(self) -> dict[str, Any]:
        first, second = self.terminals[0], self.terminals[1]
        # Online: some service, replicated and delivered.
        for t in self.terminals:
            self.serve(t, 2, lambda code: True)
        shared_person = first.session(AGENT).citizens.register(**self.person())
        shared = first.session(AGENT).cases.open("encombrants", shared_person["id"],
                                                 sample_fields("encombrants", self.rng, shared_person, TODAY))
        await self.converge()
        for t in self.terminals:
            await self.deliver(t)
        self.log("online: served, replicated, delivered")

        degraded_after = await self.degraded()
        self.log(f"SoR and back offices down: every terminal degraded after {degraded_after:.2f} s")

        incident_hlc = max(t.journal.clock.now() for t in self.terminals)
        declared = self.order("declare")
        self.apply(declared)
        self.log(f"incident declared by a signed order: {', '.join(t.mode().name for t in self.terminals)}")
        policy = {s.code: s.policy for s in default_catalog()}
        for t in self.terminals:
            self.serve(t, self.m, lambda code: policy[code] != "unavailable")
        # Planted: the shared case moved on two terminals, one person registered on two.
        first.session(AGENT).cases.move(shared["id"], "scheduled")
        second.session(AGENT).cases.move(shared["id"], "cancelled")
        twin = {"first_name": "Louise", "last_name": "Bernard", "birth_date": "1990-05-06", "postcode": "49100"}
        first.session(AGENT).citizens.register(**twin)
        second.session(AGENT).citizens.register(**{**twin, "first_name": "LOUISE", "address": "2 place du Ralliement"})
        for t in self.terminals:   # connectors off while isolated: nothing leaves
            async with Connectors(_urls(t), DRILL_POLICY.timeout_s) as connectors:
                if (await Outbox(t, policy=DRILL_POLICY).deliver(connectors)).sent:
                    raise RuntimeError("an item left an isolated terminal")
        self.log(f"isolated: {self.m} démarches served at each terminal; outbox holds "
                 f"{sum(Outbox(t).pending() for t in self.terminals)} items")

        self.sor.start()
        self.offices.start()
        end_hlc = max(t.journal.clock.now() for t in self.terminals)
        from .incident import pinned_city
        from .orders import verify
        self.apply(self.order("end", ends=verify(declared, pinned_city(first), dt.datetime.now(dt.UTC)).id))
        self.log(f"SoR and back offices back; incident ended: {', '.join(t.mode().name for t in self.terminals)}")
        reconcile_start = time.perf_counter()
        await self.converge()
        async def recover(t: Terminal) -> dict[str, Any]:
            # Every terminal recovers at once, as separate machines would.
            recovery = Recovery(t, Outbox(t, rng=self.rng, policy=DRILL_POLICY), incident_hlc, until_hlc=end_hlc)
            async with Connectors(_urls(t), DRILL_POLICY.timeout_s) as connectors:
                done = await recovery.run(connectors, exchange=lambda: self.sync(t))
            recovery.finish()
            return done
        reports = list(await asyncio.gather(*(recover(t) for t in self.terminals)))
        await self.converge()
        reconcile_s = time.perf_counter() - reconcile_start
        conflicts_found = len(first.session(AGENT).cases.conflicts())
        merges_found = len(proposals(first.conn))
        self.log(f"recovered in {reconcile_s:.2f} s: {conflicts_found} conflict(s), {merges_found} merge proposal(s)")

        # IT gives every conflict to the front office: recovery ends when each has a person.
        desk = first.session(AGENT)
        from . import conflicts as people
        for conflict in people.listing(first.conn, state="open"):
            people.assign(desk, conflict.id, "office:accueil")
        await self.converge()
        for t in self.terminals:
            Recovery(t, Outbox(t, policy=DRILL_POLICY)).finish()
        self.log(f"every conflict assigned: {', '.join(t.mode().name for t in self.terminals)}")

        # The agent settles what recovery surfaced; the decisions replicate like any act.
        for conflict in desk.cases.conflicts():
            desk.cases.resolve_conflict(conflict["id"], "kept the collection booked at the first counter")
        for proposal in proposals(first.conn):
            decide(desk, proposal.id, accept=True)
        await self.converge()
        from .recovery import report
        final = [report(t, incident_hlc, r["steps_s"], until_hlc=end_hlc) for t, r in zip(self.terminals, reports)]
        write_pdf(final, self.folder / "recovery-report.pdf")
        (self.folder / "recovery-report.json").write_text(json.dumps(final, indent=2, ensure_ascii=False))

        stats = self.offices.stats()
        hashes = {t.name: t.state_hash() for t in self.terminals}
        result = {
            "converged": len(set(hashes.values())) == 1 and all(Outbox(t).pending() == 0 for t in self.terminals)
            and all(t.mode().name == "online" for t in self.terminals),
            "state_hashes": hashes,
            "degraded_after_s": round(degraded_after, 3),
            "outbox": {
                "delivered": sum(r["outbox"]["delivered"] for r in final),
                "dead": sum(r["outbox"]["dead"] for r in final),
                "waiting": sum(r["outbox"]["waiting"] for r in final),
                "duplicates_at_backoffice": sum(s["duplicates"] for s in stats.values()),
                "redeliveries_deduplicated": sum(s["redeliveries"] for s in stats.values()),
                "records_at_backoffice": sum(s["records"] for s in stats.values()),
            },
            "conflicts": conflicts_found,
            "merge_proposals": merges_found,
            "offline_acts": sum(r["offline_acts"] for r in final),
            "reconcile_s": round(reconcile_s, 3),
            "modes": {t.name: t.mode().name for t in self.terminals},
            "total_s": round(time.perf_counter() - self.started, 3),
            "report": {"json": str(self.folder / "recovery-report.json"),
                       "pdf": str(self.folder / "recovery-report.pdf")},
            "terminals": final,
        }
        self.log("done")
        return result


def _urls(t: Terminal) -> dict[str, str]:
    from .connectors import load
    return load(t.home)


def run(terminals: int = 3, demarches: int = 20, error_rate: float = 0.0, seed: int = 0,
        folder: Path | None = None, progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run a drill in ``folder`` (a temporary one, removed after, if None)."""
    own = folder is None
    where = Path(tempfile.mkdtemp(prefix="beffroi-drill-")) if own else Path(folder)
    try:
        result = Drill(where, terminals, demarches, error_rate, seed, progress).run()
    finally:
        if own:
            shutil.rmtree(where, ignore_errors=True)
    if own:
        result["report"] = None
    return result


def text_report(r: dict[str, Any]) -> str:
    o = r["outbox"]
    lines = [
        f"converged: {'yes' if r['converged'] else 'NO'}",
        *(f"  {name}: {h[:16]}…" for name, h in r["state_hashes"].items()),
        f"degraded after: {r['degraded_after_s']:.2f} s",
        f"offline acts: {r['offline_acts']}",
        f"outbox: {o['delivered']} delivered, {o['dead']} dead, {o['waiting']} waiting;"
        f" back offices hold {o['records_at_backoffice']} records, {o['duplicates_at_backoffice']} duplicates,"
        f" {o['redeliveries_deduplicated']} redeliveries deduplicated",
        f"conflicts: {r['conflicts']}; merge proposals: {r['merge_proposals']}",
        f"modes at the end: {', '.join(f'{n} {m}' for n, m in r['modes'].items())}",
        f"reconciled in: {r['reconcile_s']:.2f} s; drill total: {r['total_s']:.2f} s",
    ]
    if r.get("report"):
        lines.append(f"recovery report: {r['report']['pdf']} and {r['report']['json']}")
    return "\n".join(lines)
