"""``beffroi`` commands for replication: the SoR (init, serve, restore,
invite, approve, reject, devices), a terminal's enrol/sync/bundle, revoke and restore."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from hub.cli import UsageError, emit, home_of, open_terminal
from hub.errors import Invalid
from hub.plugins import Commands, command_adder
from hub.terminal import DEFAULT_CITY


def _db(args: argparse.Namespace) -> str | None:
    """``--db`` checked: a shared SoR's PostgreSQL URL, which needs ``--city``
    for what concerns one city (absent: the single-city SoR of ``--home``)."""
    url = getattr(args, "db", None)
    if url is None:
        if getattr(args, "city", None) is not None:
            raise UsageError("--city names a city of a shared SoR: give its --db postgresql://… too")
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        raise UsageError(f"--db must be a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE), got {url!r}")
    return url


def _open(args: argparse.Namespace):
    """(index, the city's public keys, the folder holding its admin/ key):
    the SQLite index of ``--home``, or ``--city`` of the shared SoR at ``--db``."""
    from .index import Index, load_city
    url = _db(args)
    if url is None:
        city = load_city(home_of(args))
        return Index(home_of(args)), city, home_of(args)
    if not getattr(args, "city", None):
        raise UsageError("--db needs --city NAME: the city of the shared SoR this concerns")
    from .cities import open_city
    city, index = open_city(url, args.city)
    return index, city, None


def _admin(args: argparse.Namespace, home: Path | None, city: Any) -> Any:
    """The admin key pair: ``--admin DIR`` for a shared SoR's city, else the home's admin/."""
    from .index import admin_keys
    from .keys import KeyPair
    if getattr(args, "db", None) is None:
        return admin_keys(home)
    if not getattr(args, "admin", None):
        raise UsageError("--admin DIR is needed: the city's admin key folder (as `sor city add` wrote it)")
    pair = KeyPair.load(Path(args.admin), "admin")
    if pair is None:
        raise Invalid(f"no admin key in {args.admin}: give the admin/ folder `sor city add` wrote",
                      f"pas de clé d'administration dans {args.admin} : donnez le dossier admin/ écrit par `sor city add`")
    if pair.sign_pub != city.admin_sign:
        raise Invalid(f"the admin key in {args.admin} is not {city.name}'s: give that city's admin/ folder",
                      f"la clé d'administration de {args.admin} n'est pas celle de {city.name} : donnez son dossier admin/")
    return pair


def _sor_init(args: argparse.Namespace) -> int:
    from .index import init_city
    info = init_city(home_of(args), args.city, args.shares, args.threshold)
    emit(args, info, lambda i: (
        f"SoR for {i['city']} created in {i['home']}\n"
        f"admin key fingerprint: {i['admin_fingerprint']}\n"
        f"recovery shares ({i['threshold']} of {len(i['shares'])} needed):\n  " + "\n  ".join(i["shares"]) +
        "\nHand each share file to one IT staff member, then delete the shares/ folder."))
    return 0


def _sor_serve(args: argparse.Namespace) -> int:
    from .sor import serve
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.public:
        raise UsageError("the SoR listens on loopback unless --public is given")
    if not 0 <= args.port < 65536:
        raise UsageError("--port must be between 0 and 65535")
    url = _db(args)
    if url is not None:
        if args.replica:
            raise UsageError("--replica is litestream's, for the single-city SoR: PostgreSQL keeps its own backups")
        from .sor import serve_shared
        if not 1 <= args.connections <= 100:
            raise UsageError("--connections must be between 1 and 100")
        from hub import scrape
        home_of(args).mkdir(parents=True, exist_ok=True)
        asyncio.run(serve_shared(url, args.host, args.port, args.s3, home_of(args) if args.home else None,
                                 scrape.token(home_of(args)), args.connections))
        return 0
    asyncio.run(serve(home_of(args), args.host, args.port, args.s3, not args.no_litestream, args.replica))
    return 0


def _city_add(args: argparse.Namespace) -> int:
    from .cities import add_city, stores
    url = _db(args) if args.db else None
    if url is None:
        raise UsageError("--db postgresql://… is required: the shared SoR's database")
    if args.s3:
        stores(args.s3, None)   # the bucket answers before the city exists
    elif args.home is None:
        raise UsageError("--s3 URL (the bucket the nodes serve) or --home DIR (the folder they share) is needed: "
                         "a city's signed facts are kept with its segments, for `beffroi sor reindex`")
    info = add_city(url, args.name, args.shares, args.threshold, Path(args.out), args.s3 or str(home_of(args)))
    emit(args, info, lambda i: (
        f"city {i['city']} added; its terminals enrol with `beffroi enroll --sor URL --city {i['slug']}`\n"
        f"admin key folder: {i['admin']} (fingerprint {i['admin_fingerprint']})\n"
        f"recovery shares ({i['threshold']} of {len(i['shares'])} needed):\n  " + "\n  ".join(i["shares"]) +
        "\nHand the admin folder and each share to the city's IT staff, then delete them here: "
        "the SoR keeps no copy."))
    return 0


def _sor_reindex(args: argparse.Namespace) -> int:
    from .rebuild import reindex
    url = _db(args)
    if url is None:
        raise UsageError("--db postgresql://… is required: the (empty) database to rebuild the index into")
    info = reindex(url, args.s3, home_of(args) if args.home else None)
    emit(args, info, lambda i: "\n".join(
        [f"rebuilt {c['city']}: {c.get('segments', 0)} segment(s), {c.get('devices', 0)} terminal(s), "
         f"{c.get('epochs', 0)} epoch(s), {c.get('revoked', 0)} revoked, {c.get('refused', 0)} object(s) refused"
         for c in i["rebuilt"]] + [f"{len(i['kept'])} city(ies) already in the database, left as they are"]))
    return 0


def _city_list(args: argparse.Namespace) -> int:
    from .cities import list_cities
    url = _db(args) if args.db else None
    if url is None:
        raise UsageError("--db postgresql://… is required: the shared SoR's database")
    rows = list_cities(url)
    emit(args, rows, lambda rs: "\n".join(
        f"{r['slug']:<24} {r['city']:<32} {r['devices']} terminal(s), {r['segments']} segment(s), epoch {r['epoch']}"
        for r in rs) or "no city yet (`beffroi sor city add NAME`)")
    return 0


def _sor_restore(args: argparse.Namespace) -> int:
    from .litestream import restore
    info = restore(home_of(args), args.replica, args.force)
    emit(args, info, lambda i: f"index restored from litestream: {i['segments']} segments in {i['index']}")
    return 0


def _sor_invite(args: argparse.Namespace) -> int:
    index, _, _ = _open(args)
    try:
        info = index.invite(args.name, args.hours)
    finally:
        index.close()
    emit(args, info, lambda i: (
        f"invitation for terminal {i['name']}: {i['code']}\n"
        f"valid until {time.strftime('%Y-%m-%d %H:%M %Z', time.localtime(i['expires']))}, once; at the terminal:\n"
        f"  beffroi enroll --sor URL --invite {i['code']}"))
    return 0


def _granted(args: argparse.Namespace) -> dict[str, list[int]]:
    """The number ranges put in the grant (used while isolated when no order gives any)."""
    from hub.mode import parse_span
    return {kind: parse_span(text, option) for kind, text, option in (
        ("register", args.register_range, "--register-range"), ("tickets", args.ticket_range, "--ticket-range"))
        if text is not None}


def _sor_approve(args: argparse.Namespace) -> int:
    index, city, folder = _open(args)
    try:
        device = index.approve(_admin(args, folder, city), args.terminal, args.fingerprint, _granted(args))
    finally:
        index.close()
    from .keys import fingerprint, unb64
    data = {"terminal": device["id"], "name": device["name"], "status": device["status"],
            "device_fingerprint": fingerprint(unb64(device["sign_pub"])),
            "ranges": json.loads(device["certificate"])["doc"].get("ranges") or {}}
    emit(args, data, lambda d: f"terminal {d['name']} ({d['terminal']}) approved; key {d['device_fingerprint']}"
                               + "".join(f"\n{k} range: {a}-{b}" for k, (a, b) in d["ranges"].items()))
    return 0


def _sor_reject(args: argparse.Namespace) -> int:
    index, _, _ = _open(args)
    try:
        info = index.reject(args.terminal)
    finally:
        index.close()
    emit(args, info, lambda i: f"request of terminal {i['name']} ({i['terminal']}) rejected" if "terminal" in i
         else f"{i['invitations_cancelled']} invitation(s) for {i['name']} cancelled")
    return 0


def _sor_devices(args: argparse.Namespace) -> int:
    from .keys import fingerprint, unb64
    index, _, _ = _open(args)
    try:
        with index.transaction():
            index.expire()
        rows = [{"terminal": d["id"], "name": d["name"], "status": d["status"],
                 "device_fingerprint": fingerprint(unb64(d["sign_pub"]))} for d in index.devices()]
        invited = index.invitations()
    finally:
        index.close()
    data = {"devices": rows, "invitations": invited} if args.json else rows

    def text(_) -> str:
        lines = [f"{d['terminal']}  {d['name']:<16} {d['status']:<8} {d['device_fingerprint']}" for d in rows]
        lines += [f"invitation for {i['name']} open until {time.strftime('%Y-%m-%d %H:%M', time.localtime(i['expires']))}"
                  for i in invited]
        return "\n".join(lines) or "no terminal has asked to enrol"
    emit(args, data, text)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    index, city, folder = _open(args)
    try:
        info = index.revoke(_admin(args, folder, city), city, args.terminal)
    finally:
        index.close()
    emit(args, info, lambda i: f"terminal {i['name']} revoked after #{i['last_seq']}; key epoch is now {i['epoch']}")
    return 0


def _enroll(args: argparse.Namespace) -> int:
    from .enrolment import enroll
    with open_terminal(args) as terminal:
        info = asyncio.run(enroll(terminal, _city_url(args), args.invite))
    emit(args, info, lambda i: (
        f"terminal {i['name']} asked {i['city']} to enrol it: {i['status']}\n"
        f"device key fingerprint: {i['device_fingerprint']}\n"
        f"  read it to the admin, who approves with `beffroi sor approve {i['name']} --fingerprint "
        f"{i['device_fingerprint']}`\n"
        f"city admin key fingerprint: {i['admin_fingerprint']}"))
    return 0


def _report_text(r: dict[str, Any]) -> str:
    text = (f"sealed {r['sealed']} segment(s), pushed {r['pushed']}, pulled {r['pulled_segments']} segment(s) "
            f"({r['pulled_events']} events); open conflicts: {r['conflicts']}")
    if r.get("documents_sent") or r.get("documents_erased"):
        text += f"\nvault: {r['documents_sent']} document(s) sent, {r['documents_erased']} erased at the SoR"
    return text + "".join(f"\nrefused: {reason}" for reason in r["refused"])


WATCH_GROUP = "beffroi.sync_watch"


def _watch_loop():
    """The loop another package plugs into ``sync --watch`` (continuity's: several
    upstreams, degraded detection, incident orders), found through an entry
    point so that replication depends on no such package; None if none is."""
    from importlib.metadata import entry_points
    for ep in entry_points(group=WATCH_GROUP):
        return ep.load()
    return None


def _sync(args: argparse.Namespace) -> int:
    from .sync import Replicator, Unreachable
    loop = _watch_loop() if args.watch else None
    if loop is not None:
        return loop(args)
    with open_terminal(args) as terminal:
        replicator = Replicator(terminal)
        try:
            if not args.watch:
                for url in args.sor or [None]:
                    report = asyncio.run(replicator.sync(url))
                    emit(args, report.to_dict(), _report_text)
                return 0
            while True:  # --watch: one round every interval until interrupted
                for url in args.sor or [None]:
                    try:
                        report = asyncio.run(replicator.sync(url))
                        if report.sealed or report.pushed or report.pulled_segments or report.refused or args.json:
                            emit(args, {"at": time.time(), **report.to_dict()}, _report_text)
                    except Unreachable as exc:
                        print(f"beffroi: warning: {exc.en}", file=sys.stderr, flush=True)
                sys.stdout.flush()
                time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0
        finally:
            replicator.close()


def _bundle_export(args: argparse.Namespace) -> int:
    from .bundle import export
    with open_terminal(args) as terminal:
        info = export(terminal, Path(args.file))
    emit(args, info, lambda i: f"{i['segments']} segment(s) written to {args.file} ({i['bytes']} bytes)")
    return 0


FILE_GROUP = "beffroi.bundle_files"


def _other_file(args: argparse.Namespace) -> int | None:
    """A file on the stick that is not a bundle of segments (an incident order):
    the package that knows it (continuity) takes it, through an entry point."""
    from importlib.metadata import entry_points

    from .bundle import MAGIC
    path = Path(args.file)
    try:
        with path.open("rb") as f:
            start = f.read(len(MAGIC))
    except OSError:
        return None   # import_ says what is wrong with the path
    if start == MAGIC:
        return None
    for ep in entry_points(group=FILE_GROUP):
        done = ep.load()(args)
        if done is not None:
            return done
    return None


def _bundle_import(args: argparse.Namespace) -> int:
    from .bundle import import_
    other = _other_file(args)
    if other is not None:
        return other
    with open_terminal(args) as terminal:
        report = import_(terminal, Path(args.file))
    emit(args, report.to_dict(), lambda r: f"imported {r['pulled_segments']} new segment(s) "
                                           f"({r['pulled_events']} events); open conflicts: {r['conflicts']}")
    return 0


def _city_url(args: argparse.Namespace) -> str:
    """The SoR URL, or a shared SoR's URL for ``--city``."""
    if args.city is None:
        return args.sor
    from .cities import city_url, slug
    if not slug(args.city):
        raise UsageError("--city needs a city name with at least one letter or digit")
    return city_url(args.sor, args.city)


def _restore(args: argparse.Namespace) -> int:
    from .enrolment import restore
    texts = []
    for name in args.share:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"share file {path} is not readable")
        texts.append(path.read_text("utf-8"))
    if args.home is None:
        raise UsageError("--home NEW is required: the new home to rebuild into")
    info = asyncio.run(restore(_city_url(args), texts, home_of(args), args.terminal))
    emit(args, info, lambda i: (f"restored {i['events']} events from {i['segments']} segments and "
                                f"{i['documents']} vault document(s) into {i['home']}; "
                                f"state-hash {i['state_hash']}" + "".join(f"\nrefused: {r}" for r in i["refused"])))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    add = command_adder(common)

    sor = sub.add_parser("sor", help="the system of record (SoR)", description="the system of record (SoR)")
    sor_sub = sor.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(sor_sub, "init", _sor_init, "create a SoR home: admin key and recovery shares")
    p.add_argument("--shares", type=int, required=True, help="number of recovery shares (n)")
    p.add_argument("--threshold", type=int, required=True, help="shares needed to recover (k)")
    p.add_argument("--city", default=DEFAULT_CITY)
    p = add(sor_sub, "serve", _sor_serve, "run the SoR server (with litestream backing up its index)")
    p.add_argument("--port", type=int, required=True, help="TCP port (0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--public", action="store_true", help="allow a non-loopback --host")
    p.add_argument("--s3", metavar="URL", help="keep segments in S3: http://[KEY:SECRET@]HOST:PORT/BUCKET[/PREFIX]")
    p.add_argument("--replica", metavar="URL", help="litestream replica in S3 instead of <home>/replica")
    p.add_argument("--no-litestream", action="store_true", help="do not run litestream (tests, benchmarks)")
    p.add_argument("--db", metavar="URL", help="serve the cities of a shared SoR whose index is this PostgreSQL "
                   "(postgresql://…); any number of nodes may serve the same --db and --s3")
    p.add_argument("--connections", type=int, default=8, metavar="N",
                   help="with --db: this node's PostgreSQL connections (its pool's size), 8 by default")
    p = add(sor_sub, "reindex", _sor_reindex, "rebuild a shared SoR's index from its bucket alone "
            "(every city of the bucket missing from --db)")
    p.add_argument("--db", required=True, metavar="URL", help="the shared SoR's PostgreSQL (postgresql://…)")
    p.add_argument("--s3", metavar="URL", help="the shared SoR's bucket (else the blobs under --home)")
    city = sor_sub.add_parser("city", help="the cities of a shared SoR (PostgreSQL + S3)",
                              description="the cities of a shared SoR (PostgreSQL + S3)")
    city_sub = city.add_subparsers(dest="city_action", required=True, metavar="ACTION")
    p = add(city_sub, "add", _city_add, "add a city: its schema, and its admin key and recovery shares under --out")
    p.add_argument("name", metavar="NAME", help="the city's name (its terminals' URL uses its slug)")
    p.add_argument("--db", required=True, metavar="URL", help="the shared SoR's PostgreSQL (postgresql://…)")
    p.add_argument("--s3", metavar="URL", help="the shared SoR's bucket, checked before the city is added")
    p.add_argument("--shares", type=int, default=3, help="number of recovery shares (n, default 3)")
    p.add_argument("--threshold", type=int, default=2, help="shares needed to recover (k, default 2)")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write admin/ and shares/ (never the database)")
    p = add(city_sub, "list", _city_list, "list the cities of a shared SoR with their counts")
    p.add_argument("--db", required=True, metavar="URL", help="the shared SoR's PostgreSQL (postgresql://…)")
    p = add(sor_sub, "restore", _sor_restore, "bring the SoR index back from the litestream replica")
    p.add_argument("--replica", metavar="URL", help="the S3 replica, if not <home>/replica")
    p.add_argument("--force", action="store_true", help="replace an existing index")
    p = add(sor_sub, "invite", _sor_invite, "make a one-time code with which terminal NAME may ask to enrol")
    p.add_argument("name", metavar="NAME", help="the terminal's name, as given to `beffroi init`")
    p.add_argument("--hours", type=float, default=24.0, help="how long the code stays valid (default 24)")
    p.add_argument("--city", metavar="NAME", help="a city of the shared SoR at --db (instead of --home)")
    p.add_argument("--db", metavar="URL", help="the shared SoR's PostgreSQL (postgresql://…), with --city")
    p = add(sor_sub, "approve", _sor_approve, "approve a terminal's enrolment (signs its certificate)")
    p.add_argument("terminal", metavar="TERMINAL", help="terminal id or name")
    p.add_argument("--fingerprint", required=True, metavar="FP",
                   help="the device key fingerprint the terminal showed at `beffroi enroll`")
    p.add_argument("--city", metavar="NAME", help="a city of the shared SoR at --db (instead of --home)")
    p.add_argument("--db", metavar="URL", help="the shared SoR's PostgreSQL (postgresql://…), with --city")
    p.add_argument("--admin", metavar="DIR", help="with --db: the city's admin key folder (from `sor city add`)")
    p.add_argument("--register-range", metavar="FIRST-LAST",
                   help="incident-register numbers this terminal uses while isolated when no order gives a range")
    p.add_argument("--ticket-range", metavar="FIRST-LAST",
                   help="queue-ticket numbers this terminal uses while isolated when no order gives a range")
    p = add(sor_sub, "reject", _sor_reject, "forget a pending enrolment request, or cancel a name's open invitations")
    p.add_argument("terminal", metavar="TERMINAL", help="terminal id or name")
    p.add_argument("--city", metavar="NAME", help="a city of the shared SoR at --db (instead of --home)")
    p.add_argument("--db", metavar="URL", help="the shared SoR's PostgreSQL (postgresql://…), with --city")
    p = add(sor_sub, "devices", _sor_devices, "list enrolled, pending and revoked terminals and open invitations")
    p.add_argument("--city", metavar="NAME", help="a city of the shared SoR at --db (instead of --home)")
    p.add_argument("--db", metavar="URL", help="the shared SoR's PostgreSQL (postgresql://…), with --city")

    p = add(sub, "revoke", _revoke, "revoke a terminal at the SoR and rotate the key epoch (--home is the SoR home)")
    p.add_argument("terminal", metavar="TERMINAL", help="terminal id or name")
    p.add_argument("--city", metavar="NAME", help="a city of the shared SoR at --db (instead of --home)")
    p.add_argument("--db", metavar="URL", help="the shared SoR's PostgreSQL (postgresql://…), with --city")
    p.add_argument("--admin", metavar="DIR", help="with --db: the city's admin key folder (from `sor city add`)")
    p = add(sub, "enroll", _enroll, "ask a SoR to enrol this terminal")
    p.add_argument("--sor", required=True, metavar="URL")
    p.add_argument("--invite", metavar="CODE", help="the code from `beffroi sor invite` (needed the first time)")
    p.add_argument("--city", metavar="NAME", help="the terminal's city, at a SoR shared by several cities")
    p = add(sub, "sync", _sync, "push this terminal's segments and pull the others'")
    p.add_argument("--sor", metavar="URL", action="append",
                   help="an upstream: the SoR or an office relay (repeat for several; default: the SoR given to "
                        "`beffroi enroll` and the relays of `beffroi relay use`)")
    p.add_argument("--watch", action="store_true",
                   help="sync again every --interval seconds; unreachable upstreams make the terminal degraded")
    p.add_argument("--interval", type=float, default=5.0)

    bundle = sub.add_parser("bundle", help="sneakernet bundles of segments", description="sneakernet bundles")
    bundle_sub = bundle.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(bundle_sub, "export", _bundle_export, "write every segment this terminal holds to FILE")
    p.add_argument("file", metavar="FILE")
    p = add(bundle_sub, "import", _bundle_import, "verify and merge the segments of FILE")
    p.add_argument("file", metavar="FILE")

    p = add(sub, "restore", _restore, "rebuild the city's state in a new home from the SoR and k recovery shares")
    p.add_argument("--sor", required=True, metavar="URL")
    p.add_argument("--share", action="append", required=True, metavar="FILE")
    p.add_argument("--terminal", default="RESTORED", help="name of the rebuilt terminal")
    p.add_argument("--city", metavar="NAME", help="the city to restore, at a SoR shared by several cities")


def commands() -> Commands:
    return Commands(register)
