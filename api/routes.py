"""The hub's own HTTP API under ``/api/v1``: services, citizens, cases, payments,
queue. Each handler checks the request's shape, then makes exactly the hub call
the counter app would make, in a session of the API key's principal, so the
hub's role checks (agent, kiosk, ops) decide what is allowed.

Reads run on the server's reading connection; writes go through the group
committer and are answered once durable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from hub.citizens import CITIZEN_FIELDS
from hub.errors import Forbidden, HubError
from hub.roles import Principal

from . import keys

PREFIX = "/api/v1"


class Refused(web.HTTPException):
    """A JSON error answer in the hub's shape: stable code, English and French."""

    def __init__(self, status: int, code: str, en: str, fr: str, fields: list | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        body = {"error": {"code": code, "en": en, "fr": fr}}
        if fields:
            body["error"]["fields"] = fields
        super().__init__(text=json.dumps(body, ensure_ascii=False), content_type="application/json", headers=headers)


def hub_refusal(exc: HubError) -> Refused:
    from hub.errors import FormErrors, Invalid, NotFound
    status = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, Forbidden) else 400
    fields = None
    if isinstance(exc, FormErrors):
        fields = [{"field": e.field, "en": e.field_en, "fr": e.field_fr} for e in exc.errors]
    elif not isinstance(exc, (Invalid, NotFound, Forbidden)):
        status = 409
    return Refused(status, exc.code, exc.en, exc.fr, fields)


MAX_DEPTH = 16           # nesting of a JSON body; no call of this API needs more than 3


async def read_within(request: web.Request, seconds: float) -> bytes:
    """The body, or 408 when the sender trickles it (slowloris)."""
    try:
        return await asyncio.wait_for(request.read(), seconds)
    except TimeoutError:
        raise Refused(408, "too_slow", f"the body did not arrive within {seconds:g} s",
                      f"le corps n'est pas arrivé en {seconds:g} s") from None


def parse_json(raw: bytes) -> Any:
    """JSON no deeper than MAX_DEPTH whose every string can be stored (a lone
    surrogate such as "\\ud800" cannot be written as UTF-8)."""
    try:
        value = json.loads(raw or b"{}")
    except RecursionError:  # thousands of "[": the parser gives up before we can count
        value = _TOO_DEEP
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "bad_json", "the body must be a JSON object", "le corps doit être un objet JSON") from None
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH or item is _TOO_DEEP:
            raise Refused(400, "bad_json", f"the body nests deeper than {MAX_DEPTH} levels",
                          f"le corps est imbriqué sur plus de {MAX_DEPTH} niveaux")
        if isinstance(item, dict):
            stack.extend((inner, depth + 1) for pair in item.items() for inner in pair)
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise Refused(400, "bad_text", "the body holds text that is not valid Unicode (a lone surrogate)",
                              "le corps contient du texte qui n'est pas de l'Unicode valide (substitut isolé)") from None
    return value


_TOO_DEEP = object()


def data(value: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(value, ensure_ascii=False, default=str), status=status,
                        content_type="application/json")


# Body fields: name → (accepted types, required). bool is never taken for int.
Spec = dict[str, tuple[tuple[type, ...], bool]]


class Desk:
    """The /api/v1 handlers; ``server`` holds the connections and the committer."""

    def __init__(self, server) -> None:
        self.server = server

    def routes(self) -> list[web.RouteDef]:
        p = PREFIX
        return [
            web.get(f"{p}/health", self.health),
            web.get(f"{p}/services", self.services),
            web.get(f"{p}/services/{{code}}", self.service),
            web.get(f"{p}/citizens", self.citizen_search),
            web.post(f"{p}/citizens", self.citizen_register),
            web.get(f"{p}/citizens/{{citizen_id}}", self.citizen_get),
            web.patch(f"{p}/citizens/{{citizen_id}}", self.citizen_edit),
            web.get(f"{p}/citizens/{{citizen_id}}/cases", self.citizen_cases),
            web.post(f"{p}/cases", self.case_open),
            web.post(f"{p}/cases/check", self.case_check),
            web.get(f"{p}/cases/{{key}}", self.case_get),
            web.post(f"{p}/cases/{{key}}/status", self.case_move),
            web.post(f"{p}/cases/{{key}}/notes", self.case_note),
            web.post(f"{p}/cases/{{key}}/payments", self.payment_take),
            web.get(f"{p}/payments/{{payment_id}}", self.payment_get),
            web.post(f"{p}/payments/{{payment_id}}/refunds", self.payment_refund),
            web.get(f"{p}/queue/tickets", self.queue_waiting),
            web.post(f"{p}/queue/tickets", self.queue_issue),
            web.post(f"{p}/queue/call", self.queue_call),
            web.post(f"{p}/queue/tickets/{{ticket_id}}/close", self.queue_close),
        ]

    # --- plumbing -------------------------------------------------------------

    async def principal(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        presented = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("X-API-Key")
        if not presented:
            raise Refused(401, "no_key", "this API needs a key: send `Authorization: Bearer <key>`",
                          "cette API demande une clé : envoyez `Authorization: Bearer <clé>`",
                          headers={"WWW-Authenticate": "Bearer"})
        try:
            return await self.server.readers.run(lambda t: keys.check(t.conn, presented).principal())
        except Forbidden as exc:
            raise Refused(401, exc.code, exc.en, exc.fr, headers={"WWW-Authenticate": "Bearer"}) from None

    async def body(self, request: web.Request, spec: Spec) -> tuple[Principal, dict[str, Any]]:
        """The caller (checked first: an anonymous caller learns nothing of
        the fields) and the body, checked against ``spec``."""
        principal = await self.principal(request)
        value = parse_json(await read_within(request, self.server.body_seconds))
        if not isinstance(value, dict):
            raise Refused(400, "bad_json", "the body must be a JSON object", "le corps doit être un objet JSON")
        problems = []
        for name in value:
            if name not in spec:
                problems.append({"field": name, "en": "is not a field of this call",
                                 "fr": "n'est pas un champ de cet appel"})
        for name, (types, required) in spec.items():
            if name not in value or value[name] is None:
                if required:
                    problems.append({"field": name, "en": "is required", "fr": "est obligatoire"})
                continue
            item = value[name]
            if (isinstance(item, bool) and bool not in types) or not isinstance(item, types):
                en, fr = _KINDS[types[0]]
                problems.append({"field": name, "en": f"must be {en}", "fr": f"doit être {fr}"})
        if problems:
            raise Refused(400, "invalid", "; ".join(f"{p['field']}: {p['en']}" for p in problems),
                          "; ".join(f"{p['field']} : {p['fr']}" for p in problems), problems)
        return principal, value

    async def read(self, request: web.Request, call: Callable[[Any], Any], status: int = 200) -> web.Response:
        principal = await self.principal(request)

        def work(terminal) -> web.Response:
            try:
                return data(call(terminal.session(principal)), status)
            except HubError as exc:
                raise hub_refusal(exc) from None
        return await self.server.readers.run(work)

    async def write(self, principal: Principal, call: Callable[[Any], Any], status: int = 200) -> web.Response:
        try:
            result = await self.server.committer.run(lambda: call(self.server.writer.session(principal)))
        except HubError as exc:
            raise hub_refusal(exc) from None
        return data(result, status)

    # --- handlers ---------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return data({"status": "ok", "terminal": self.server.reader.name, "open311_mode": self.server.open311_mode})

    async def services(self, request: web.Request) -> web.Response:
        def call(s):
            s.principal.require("catalog.read")
            return [service.describe() for service in s.catalog]
        return await self.read(request, call)

    async def service(self, request: web.Request) -> web.Response:
        def call(s):
            s.principal.require("catalog.read")
            return s.catalog.get(request.match_info["code"]).describe()
        return await self.read(request, call)

    async def citizen_search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        limit_text = request.query.get("limit", "20")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            raise Refused(400, "invalid", "limit must be a whole number from 1 to 100",
                          "limit doit être un nombre entier de 1 à 100")
        return await self.read(request, lambda s: s.citizens.search(query, limit=int(limit_text)))

    async def citizen_register(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {k: ((str,), k in ("first_name", "last_name", "birth_date"))
                                         for k in CITIZEN_FIELDS})
        return await self.write(who, lambda s: s.citizens.register(**body), 201)

    async def citizen_get(self, request: web.Request) -> web.Response:
        return await self.read(request, lambda s: s.citizens.get(request.match_info["citizen_id"]))

    async def citizen_edit(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {k: ((str,), False) for k in CITIZEN_FIELDS})
        return await self.write(who, lambda s: s.citizens.edit(request.match_info["citizen_id"], **body))

    async def citizen_cases(self, request: web.Request) -> web.Response:
        return await self.read(request, lambda s: s.cases.for_citizen(request.match_info["citizen_id"]))

    async def case_open(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {"service": ((str,), True), "citizen_id": ((str,), False),
                                         "fields": ((dict,), False), "contact": ((dict,), False)})
        contact = body.get("contact") or {}
        if any(not isinstance(v, str) or len(v) > 200 for v in contact.values()) or len(contact) > 10:
            raise Refused(400, "invalid", "contact: at most 10 text values of at most 200 characters",
                          "contact : au plus 10 valeurs texte de 200 caractères au plus")
        return await self.write(who, lambda s: s.cases.open(body["service"], body.get("citizen_id"),
                                                                body.get("fields") or {}, contact=contact or None), 201)

    async def case_check(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {"tracking_code": ((str,), True), "verification": ((str,), True)})
        return await self.write(who, lambda s: s.cases.check(body["tracking_code"], body["verification"]))

    async def case_get(self, request: web.Request) -> web.Response:
        return await self.read(request, lambda s: s.cases.get(request.match_info["key"]))

    async def case_move(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {"status": ((str,), True), "reason": ((str,), False)})
        return await self.write(who, lambda s: s.cases.move(request.match_info["key"], body["status"],
                                                                body.get("reason")))

    async def case_note(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {"text": ((str,), True)})
        return await self.write(who, lambda s: s.cases.note(request.match_info["key"], body["text"]), 201)

    async def payment_take(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {"amount_cents": ((int,), True), "method": ((str,), True)})
        return await self.write(who, lambda s: s.payments.take(request.match_info["key"], body["amount_cents"],
                                                                   body["method"]), 201)

    async def payment_get(self, request: web.Request) -> web.Response:
        return await self.read(request, lambda s: s.payments.get(request.match_info["payment_id"]))

    async def payment_refund(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {"amount_cents": ((int,), True), "reason": ((str,), True)})
        return await self.write(who, lambda s: s.payments.refund(request.match_info["payment_id"],
                                                                     body["amount_cents"], body["reason"]), 201)

    async def queue_waiting(self, request: web.Request) -> web.Response:
        return await self.read(request, lambda s: s.queue.waiting())

    async def queue_issue(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {"family": ((str,), True)})
        return await self.write(who, lambda s: s.queue.issue(body["family"]), 201)

    async def queue_call(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {"families": ((list,), False), "desk": ((str,), False)})
        families = body.get("families") or None
        if families is not None and not all(isinstance(f, str) for f in families):
            raise Refused(400, "invalid", "families must be a list of family codes",
                          "families doit être une liste de codes de famille")
        desk = body.get("desk")
        if desk is not None and len(desk) > 32:
            raise Refused(400, "invalid", "desk: at most 32 characters", "desk : 32 caractères au plus")
        return await self.write(who, lambda s: {"ticket": s.queue.call_next(families, desk)})

    async def queue_close(self, request: web.Request) -> web.Response:
        who, body = await self.body(request, {"outcome": ((str,), True)})
        return await self.write(who, lambda s: s.queue.close(request.match_info["ticket_id"], body["outcome"]))


_KINDS = {str: ("text", "du texte"), int: ("a whole number", "un nombre entier"), dict: ("an object", "un objet"),
          list: ("a list", "une liste")}
