"""``beffroi serve`` and ``beffroi apikey create|revoke|list``."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
from typing import Any

from hub.cli import UsageError, emit, home_of, open_terminal
from hub.plugins import Commands
from hub.terminal import Terminal

from . import keys


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        raise UsageError(f"--host must be an IP address, got {args.host!r}") from None
    if not loopback and not args.allow_remote:
        raise UsageError(f"--host {args.host} is not a loopback address; add --allow-remote to listen beyond "
                         "this machine (the API has no TLS of its own)")
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    Terminal.open(home_of(args)).close()  # a missing home is a clear error before anything starts

    def ready(url: str) -> None:
        print(f"beffroi: serving {home_of(args)} on {url} (Open311 {args.open311_mode}); "
              f"OpenAPI at {url}/openapi.json", flush=True)
    try:
        asyncio.run(serve(home_of(args), args.host, args.port, args.open311_mode, args.jurisdiction, ready))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        created = keys.create(t.conn, args.name, args.role)
    emit(args, created, lambda d: f"{d['api_key']}\nAPI key {d['name']} ({d['role']}) created; "
                                  "it is shown only now, store it safely")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        revoked = keys.revoke(t.conn, args.name)
    emit(args, revoked, f"API key {args.name} revoked")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        found = keys.listing(t.conn)
    emit(args, found, lambda d: "\n".join(f"{k['name']:<24} {k['role']:<6} {'revoked' if k['revoked'] else 'active'}"
                                          for k in d) or "no API key")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[common], help="serve the local HTTP API and Open311 endpoint",
                       description="serve the local HTTP API (/api/v1), Open311 GeoReport v2 (/open311/v2) "
                                   "and the OpenAPI document (/openapi.json)")
    p.add_argument("--port", type=int, default=8311, help="TCP port (0 picks a free one; default 8311)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    p.add_argument("--open311-mode", choices=["realtime", "batch"], default="realtime",
                   help="realtime: POST requests answers the case id; batch: it answers a token, the case "
                        "follows (GET tokens/{token})")
    p.add_argument("--jurisdiction", help="Open311 jurisdiction_id (default: from the city name)")
    p.set_defaults(func=cmd_serve)

    group = sub.add_parser("apikey", help="API keys of this terminal", description="API keys of this terminal")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("create", parents=[common], help="create an API key (shown once)")
    p.add_argument("--name", required=True)
    p.add_argument("--role", default="kiosk", choices=list(keys.ROLES),
                   help="role the key acts as (default kiosk; Open311 reports take any key)")
    p.set_defaults(func=cmd_create)
    p = actions.add_parser("revoke", parents=[common], help="revoke an API key at once")
    p.add_argument("name")
    p.set_defaults(func=cmd_revoke)
    p = actions.add_parser("list", parents=[common], help="list API keys (never the secrets)")
    p.set_defaults(func=cmd_list)


def commands() -> Commands:
    return Commands(register)


