"""Open311 GeoReport v2 under ``/open311/v2/``: services, service definitions,
service requests and tokens, in JSON and XML.

Catalog services with an ``open311`` entry are the Open311 services. A posted
request becomes a case of that service, opened by a kiosk principal named after
the API key (the reporter stays anonymous: name, e-mail and phone go to the
case's ``contact``, which no Open311 response shows; only the photo link,
``media_url``, is read back). The case's workflow gives
the Open311 status: a final status (no way out) is ``closed``, any other
``open``.

Reading is public, as the spec intends, and shows only the public fields of
Open311 services' cases; writing needs an API key (``beffroi apikey create``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hub.catalog import Catalog, Service
from hub.clock import pack
from hub.errors import Forbidden, FormErrors, HubError, NotFound
from hub.roles import Principal

from . import intake, keys
from .formats import errors, respond

MAX_IDS = 100            # service_request_id values in one query
MAX_RESULTS = 1000       # requests in one answer, newest first (the spec's suggested cap)
MAX_SPAN = dt.timedelta(days=90)
CONTACT_LIMIT = 200      # cases keep contact values up to this length; longer is refused, not cut
_ADDRESS_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9+().\s-]{6,30}$")
_DEGREES = re.compile(r"^[+-]?[0-9]{1,3}(\.[0-9]{1,15})?$")  # plain decimal degrees, as the spec's examples
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")
ADDRESS_ID_PREFIX = "address_id:"
MODES = ("realtime", "batch")
RENDERED = 32            # list answers kept rendered until the journal changes
SENDING = 4              # list answers being rendered or sent at once; more wait their turn off the loop's queue
PIECE = 64 * 1024        # sent a piece at a time, so a health check slips in between


class Refused(Exception):
    """An Open311 error answer: status and the descriptions of every problem."""

    def __init__(self, status: int, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = list(messages)


def both(en: str, fr: str) -> str:
    return f"{en} / {fr}"


def _datatype(field) -> str:
    if field.type in ("choice", "boolean"):
        return "singlevaluelist"
    if field.type == "integer":
        return "number"
    if field.type == "date":
        return "datetime"
    if field.type == "text" and field.spec.get("max_length", 1000) > 200:
        return "text"
    return "string"


@dataclass(frozen=True)
class Mapping:
    """How one catalog service reads in Open311 terms."""

    service: Service
    location: str | None      # the field that takes lat/long or the address
    description: str | None   # the field that takes Open311's description
    attributes: tuple         # every other field, as an Open311 attribute

    @classmethod
    def of(cls, service: Service) -> "Mapping":
        location = next((f.key for f in service.fields if f.type == "location"), None)
        description = next((f.key for f in service.fields if f.key == "description" and f.type == "text"), None)
        attributes = tuple(f for f in service.fields if f.key not in (location, description))
        return cls(service, location, description, attributes)

    def summary(self, mode: str, lang: str) -> dict[str, Any]:
        entry = self.service.open311 or {}
        return {
            "service_code": self.service.code,
            "service_name": self.service.names.get(lang, self.service.names["fr"]),
            "description": self.service.description.get(lang, self.service.description.get("fr")),
            "metadata": bool(self.attributes),
            "type": mode,
            "keywords": ",".join(entry.get("keywords", [])) or None,
            "group": entry.get("group"),
        }

    def definition(self, lang: str) -> dict[str, Any]:
        attributes = []
        for order, field in enumerate(self.attributes, start=1):
            attribute = {
                "variable": True, "code": field.key, "datatype": _datatype(field), "required": field.required,
                "datatype_description": _datatype_description(field, lang), "order": order,
                "description": field.label.get(lang, field.label["fr"]),
            }
            if field.type == "choice":
                attribute["values"] = [{"key": k, "name": v.get(lang, v.get("fr", k)) if isinstance(v, dict) else str(v)}
                                       for k, v in _choices(field).items()]
            elif field.type == "boolean":
                attribute["values"] = [{"key": "true", "name": "yes" if lang == "en" else "oui"},
                                       {"key": "false", "name": "no" if lang == "en" else "non"}]
            attributes.append(attribute)
        return {"service_code": self.service.code, "attributes": attributes}


def _choices(field) -> dict[str, Any]:
    choices = field.spec.get("choices", {})
    return choices if isinstance(choices, dict) else {c: c for c in choices}


def _datatype_description(field, lang: str) -> str | None:
    if field.type == "date":
        return "YYYY-MM-DD" if lang == "en" else "AAAA-MM-JJ"
    if field.type == "slot":
        return "YYYY-MM-DD matin|apres-midi"
    if field.type == "parcel":
        return "section number, e.g. AB 0123" if lang == "en" else "section et numéro, ex. AB 0123"
    return None


def mappings(catalog: Catalog) -> dict[str, Mapping]:
    return {s.code: Mapping.of(s) for s in catalog if s.open311}


def iso(hlc: int) -> str:
    return dt.datetime.fromtimestamp((hlc >> 16) / 1000, dt.UTC).isoformat(timespec="seconds")


def parse_datetime(name: str, text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise Refused(400, both(f"{name} must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z",
                                f"{name} doit être une date-heure ISO 8601, ex. 2026-01-31T00:00:00Z")) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if not 1971 <= value.year <= 9998:  # keeps ±90 days and time zones inside what datetime can hold
        raise Refused(400, both(f"{name} must be between 1971 and 9998", f"{name} doit être entre 1971 et 9998"))
    return value


def _one(params, name: str) -> str | None:
    """A parameter given once; a repeated one is refused rather than guessed."""
    values = params.getall(name, [])
    if len(values) > 1:
        raise Refused(400, both(f"{name} is given {len(values)} times; give it once",
                                f"{name} est donné {len(values)} fois ; donnez-le une fois"))
    return values[0] if values else None


class Open311:
    def __init__(self, server) -> None:
        self.server = server
        self.services = mappings(server.catalog)
        self.rendered: dict[tuple, tuple[tuple, bytes, str]] = {}
        self.rendering = threading.Lock()
        self.sending = asyncio.Semaphore(SENDING)

    # --- helpers ------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        p = "/open311/v2"
        fmt = "{fmt:json|xml}"
        return [
            web.get(f"{p}/services.{fmt}", self.services_list),
            web.get(f"{p}/services/{{service_code}}.{fmt}", self.service_definition),
            web.post(f"{p}/requests.{fmt}", self.create_request),
            web.get(f"{p}/requests.{fmt}", self.requests_list),
            web.get(f"{p}/requests/{{service_request_id}}.{fmt}", self.request_one),
            web.get(f"{p}/tokens/{{token}}.{fmt}", self.token),
        ]

    @staticmethod
    def lang(request: web.Request) -> str:
        return "en" if request.headers.get("Accept-Language", "").lower().startswith("en") else "fr"

    def _jurisdiction(self, params) -> None:
        wanted = _one(params, "jurisdiction_id")
        if wanted is not None and wanted != self.server.jurisdiction:
            raise Refused(404, both(f"jurisdiction_id {wanted!r} is not served here; this endpoint serves "
                                    f"{self.server.jurisdiction!r}",
                                    f"jurisdiction_id {wanted!r} n'est pas servie ici ; ce point d'accès sert "
                                    f"{self.server.jurisdiction!r}"))

    def _mapping(self, code: str | None) -> Mapping:
        if not code:
            raise Refused(400, both("service_code is required", "service_code est obligatoire"))
        mapping = self.services.get(code)
        if mapping is None:
            raise Refused(404, both(f"service_code {code!r} not found; services.json lists them",
                                    f"service_code {code!r} introuvable ; services.json les liste"))
        return mapping

    async def _guarded(self, request: web.Request, handler) -> web.Response:
        fmt = request.match_info.get("fmt", "json")
        try:
            return await handler(fmt)
        except Refused as exc:
            return errors(fmt, exc.status, exc.messages)
        except FormErrors as exc:
            return errors(fmt, 400, [both(e.en, e.fr) for e in exc.errors])
        except Forbidden as exc:
            return errors(fmt, 403, [both(exc.en, exc.fr)])
        except NotFound as exc:
            return errors(fmt, 404, [both(exc.en, exc.fr)])
        except HubError as exc:
            return errors(fmt, 400, [both(exc.en, exc.fr)])
        except web.HTTPRequestEntityTooLarge:
            return errors(fmt, 400, [both(f"the request body is larger than {self.server.max_body} bytes",
                                          f"le corps de la requête dépasse {self.server.max_body} octets")])

    # --- services -------------------------------------------------------------

    async def services_list(self, request: web.Request) -> web.Response:
        async def handle(fmt: str) -> web.Response:
            self._jurisdiction(request.query)
            lang = self.lang(request)
            data = [m.summary(self.server.open311_mode, lang) for m in self.services.values()]
            return respond(fmt, data, "services", "service")
        return await self._guarded(request, handle)

    async def service_definition(self, request: web.Request) -> web.Response:
        async def handle(fmt: str) -> web.Response:
            self._jurisdiction(request.query)
            mapping = self._mapping(request.match_info["service_code"])
            return respond(fmt, mapping.definition(self.lang(request)), "service_definition", None)
        return await self._guarded(request, handle)

    # --- creating requests ------------------------------------------------------

    async def create_request(self, request: web.Request) -> web.Response:
        async def handle(fmt: str) -> web.Response:
            params = request.query.copy()
            try:
                form = await asyncio.wait_for(request.post(), self.server.body_seconds)
            except TimeoutError:
                raise Refused(408, both(f"the body did not arrive within {self.server.body_seconds:g} s",
                                        f"le corps n'est pas arrivé en {self.server.body_seconds:g} s")) from None
            except LookupError:  # charset=x-bogus: no codec by that name
                raise Refused(400, both("the form's charset is unknown: send UTF-8",
                                        "le jeu de caractères du formulaire est inconnu : envoyez de l'UTF-8")) from None
            except UnicodeDecodeError:
                raise Refused(400, both("the form is not valid in its charset: send UTF-8",
                                        "le formulaire n'est pas valide dans son jeu de caractères : envoyez de l'UTF-8")) from None
            except ValueError:  # e.g. multipart without a boundary
                raise Refused(400, both("the body must be form-encoded (application/x-www-form-urlencoded)",
                                        "le corps doit être un formulaire (application/x-www-form-urlencoded)")) from None
            for name in set(form):
                params.popall(name, None)
                for value in form.getall(name):
                    if not isinstance(value, str):
                        raise Refused(400, both(f"{name} must be a form value, not a file",
                                                f"{name} doit être une valeur de formulaire, pas un fichier"))
                    params.add(name, value)
            self._jurisdiction(params)
            for name, value in params.items():
                if not _storable(name) or not _storable(value):
                    raise Refused(400, both("the form holds text that is not valid Unicode",
                                            "le formulaire contient du texte qui n'est pas de l'Unicode valide"))
            presented = _one(params, "api_key")
            key = await self.server.readers.run(lambda t: keys.check(t.conn, presented))
            mapping = self._mapping(_one(params, "service_code"))
            fields, contact = self.form_of(mapping, params)
            clean = mapping.service.clean(fields, self.server.reader.today())  # refuse bad input before it takes a write slot
            principal = Principal.kiosk(f"api:{key.name}")  # an anonymous reporter, whatever the key's role
            if self.server.open311_mode == "batch":
                token = await self.server.committer.run(
                    lambda: intake.accept(self.server.writer, principal, mapping.service.code, clean, contact))
                self.server.intake_waiting.set()
                notice = both("received; the request number follows once it is filed (GET tokens/{token})",
                              "reçu ; le numéro de demande suit dès l'enregistrement (GET tokens/{token})")
                return respond(fmt, [{"token": token, "service_notice": notice, "account_id": None}],
                               "service_requests", "request", 201)

            def open_case():
                session = self.server.writer.session(principal)
                return session.cases.open(mapping.service.code, None, clean, contact=contact)
            case = await self.server.committer.run(open_case)
            code = f"{case['tracking_code'][:4]}-{case['tracking_code'][4:]}"
            notice = both(f"tracking code {code}, verification {case['verify_value']}: check it at any kiosk",
                          f"code de suivi {code}, vérification {case['verify_value']} : consultez-le à une borne")
            return respond(fmt, [{"service_request_id": case["id"], "service_notice": notice, "account_id": None}],
                           "service_requests", "request", 201)
        return await self._guarded(request, handle)

    def form_of(self, mapping: Mapping, params) -> tuple[dict[str, Any], dict[str, str]]:
        """The case's form fields and the reporter's contact, from Open311
        parameters; every problem is reported at once."""
        problems: list[str] = []
        fields: dict[str, Any] = {}
        known = {f.key: f for f in mapping.attributes}
        for name in set(params):
            match = _ATTRIBUTE.match(name)
            if not match:
                continue
            code = match.group(1)
            values = params.getall(name)
            if code not in known:
                problems.append(both(f"attribute[{code}] is not an attribute of {mapping.service.code}",
                                     f"attribute[{code}] n'est pas un attribut de {mapping.service.code}"))
            elif len(values) > 1 or match.group(2):
                problems.append(both(f"attribute[{code}] takes a single value",
                                     f"attribute[{code}] prend une seule valeur"))
            else:
                fields[code] = values[0]
        for field in mapping.attributes:
            if field.required and field.key not in fields:
                problems.append(both(f"attribute[{field.key}] is required ({field.label['en']})",
                                     f"attribute[{field.key}] est obligatoire ({field.label['fr']})"))
        contact: dict[str, str] = {}
        try:
            location = self._location(params, contact)
        except Refused as exc:
            problems += exc.messages
            location = None
        if mapping.location and location is not None:
            fields[mapping.location] = location
        description = _one(params, "description")
        if description is not None and len(description) > 4000:
            problems.append(both("description is longer than 4000 characters",
                                 "description dépasse 4000 caractères"))
        elif mapping.description and description:
            fields[mapping.description] = description
        for name in ("first_name", "last_name", "email", "phone", "media_url", "device_id", "account_id"):
            value = (_one(params, name) or "").strip()
            if not value:
                continue
            problem = _contact_problem(name, value)
            if problem:
                problems.append(problem)
            else:
                contact[name] = value
        if problems:
            raise Refused(400, *problems)
        return fields, contact

    def _location(self, params, contact: dict[str, str]) -> dict[str, Any] | str:
        lat, long = _one(params, "lat"), _one(params, "long")
        address = (_one(params, "address_string") or "").strip()
        address_id = (_one(params, "address_id") or "").strip()
        if lat is not None or long is not None:
            # float() alone would take 4_7, 1e-05, nan and infinity
            if not (lat and long and _DEGREES.match(lat.strip()) and _DEGREES.match(long.strip())):
                raise Refused(400, both("lat and long must both be given as decimal degrees, e.g. lat=47.47&long=-0.55",
                                        "lat et long doivent être donnés tous deux en degrés décimaux, "
                                        "ex. lat=47.47&long=-0.55"))
            lat_value, long_value = float(lat), float(long)
            if not (math.isfinite(lat_value) and math.isfinite(long_value)
                    and -90 <= lat_value <= 90 and -180 <= long_value <= 180):
                raise Refused(400, both("lat must be within ±90 and long within ±180",
                                        "lat doit être comprise entre -90 et 90, long entre -180 et 180"))
            if address:
                contact["address_string"] = address[:CONTACT_LIMIT]
            return {"lat": lat_value, "long": long_value}
        if address:
            return {"address": address}
        if address_id:
            if not _ADDRESS_ID.match(address_id):
                raise Refused(400, both("address_id: 1 to 64 letters, digits or . _ : / -",
                                        "address_id : 1 à 64 lettres, chiffres ou . _ : / -"))
            return {"address": ADDRESS_ID_PREFIX + address_id}
        raise Refused(400, both("a location is required: lat and long, or address_string, or address_id",
                                "un lieu est obligatoire : lat et long, ou address_string, ou address_id"))

    # --- reading requests -----------------------------------------------------------

    def _media(self, conn, rows: list[tuple]) -> dict[str, str]:
        """The reporters' photo links, kept with the rest of their contact in
        the case's opening event (the only public part of it)."""
        if not rows:
            return {}
        found = conn.execute(
            f"SELECT aggregate, json_extract(data, '$.contact.media_url') FROM events WHERE aggregate IN"
            f" ({','.join('?' * len(rows))}) AND type='case.opened'", [f"case:{r[0]}" for r in rows])
        return {aggregate[5:]: url for aggregate, url in found if url}

    def _answer(self, conn, rows: list[tuple], lang: str) -> list[dict[str, Any]]:
        media = self._media(conn, rows)
        return [{**self._public(r, lang), "media_url": media.get(r[0])} for r in rows]

    def _public(self, row: tuple, lang: str) -> dict[str, Any]:
        case_id, service_code, status, fields_text, opened, updated = row
        mapping = self.services[service_code]
        service = mapping.service
        fields = json.loads(fields_text)
        location = fields.get(mapping.location) if mapping.location else None
        location = location if isinstance(location, dict) else {}
        address = location.get("address")
        address_id = None
        if address and address.startswith(ADDRESS_ID_PREFIX):
            address_id, address = address[len(ADDRESS_ID_PREFIX):], None
        catalog = self.server.catalog
        return {
            "service_request_id": case_id,
            "status": "closed" if service.is_final(status) else "open",
            "status_notes": catalog.statuses.get(status, {}).get(lang, status),
            "service_name": service.names.get(lang, service.names["fr"]),
            "service_code": service_code,
            "description": fields.get(mapping.description) if mapping.description else None,
            "agency_responsible": self.server.city,
            "service_notice": None,
            "requested_datetime": iso(opened),
            "updated_datetime": iso(updated),
            "expected_datetime": None,
            "address": address,
            "address_id": address_id,
            "zipcode": None,
            "lat": location.get("lat"),
            "long": location.get("long"),
            "media_url": None,
        }

    @staticmethod
    def _select(conn, where: str, args: list[Any]) -> list[tuple]:
        return conn.execute(
            f"SELECT id, service, status, fields, opened_hlc, updated_hlc FROM cases WHERE {where}"
            f" ORDER BY opened_hlc DESC LIMIT {MAX_RESULTS}", args).fetchall()

    async def requests_list(self, request: web.Request) -> web.Response:
        async def handle(fmt: str) -> web.Response:
            params = request.query
            self._jurisdiction(params)
            codes = list(self.services)
            lang = self.lang(request)
            ids_text = _one(params, "service_request_id")
            if ids_text is not None:  # the spec: it overrides every other filter
                wanted = [i.strip() for i in ids_text.split(",") if i.strip()]
                if not wanted or len(wanted) > MAX_IDS:
                    raise Refused(400, both(f"service_request_id takes 1 to {MAX_IDS} comma-separated ids",
                                            f"service_request_id prend de 1 à {MAX_IDS} identifiants séparés par des virgules"))
                where = f"id IN ({','.join('?' * len(wanted))}) AND service IN ({','.join('?' * len(codes))})"
                query, args = where, [*wanted, *codes]
            else:
                query, args = self._filtered(params, codes)
            key = (fmt, lang, query, tuple(args))

            def render(terminal) -> tuple[tuple, bytes, str]:
                """The answer's bytes, rendered once per journal change: the
                list is the heaviest public read, and the same for everyone."""
                # The mark is read first: rows are at least as new as it, so a
                # write in between only costs one more rendering.
                # Each event moves its origin's head: the heads' sum moves with any change.
                mark = terminal.conn.execute("SELECT count(*), total(seq) FROM heads").fetchone()
                with self.rendering:
                    cached = self.rendered.get(key)
                if cached and cached[0] == mark:
                    return cached
                rows = self._select(terminal.conn, query, args) if query else []
                answer = respond(fmt, self._answer(terminal.conn, rows, lang), "service_requests", "request")
                fresh = (mark, answer.body, answer.content_type)
                with self.rendering:
                    self.rendered[key] = fresh
                    while len(self.rendered) > RENDERED:
                        self.rendered.pop(next(iter(self.rendered)))
                return fresh
            async with self.sending:
                _, body, content_type = await self.server.readers.run(render)
                answer = web.StreamResponse(headers={"Content-Type": f"{content_type}; charset=utf-8"})
                answer.content_length = len(body)
                await answer.prepare(request)
                for at in range(0, len(body), PIECE):
                    await answer.write(body[at:at + PIECE])
                await answer.write_eof()
            return answer
        return await self._guarded(request, handle)

    def _filtered(self, params, codes: list[str]) -> tuple[str, list[Any]]:
        """The WHERE clause and its arguments; an empty clause matches nothing."""
        problems: list[str] = []
        code_text = _one(params, "service_code")
        if code_text is not None:
            wanted = [c.strip() for c in code_text.split(",") if c.strip()]
            unknown = [c for c in wanted if c not in self.services]
            if unknown or not wanted:
                raise Refused(404, both(f"service_code {', '.join(unknown) or code_text!r} not found; services.json lists them",
                                        f"service_code {', '.join(unknown) or code_text!r} introuvable ; services.json les liste"))
            codes = wanted
        status_text = _one(params, "status")
        statuses: set[str] | None = None
        if status_text is not None:
            statuses = {s.strip().lower() for s in status_text.split(",") if s.strip()}
            if not statuses or not statuses <= {"open", "closed"}:
                problems.append(both("status must be open, closed or open,closed",
                                     "status doit valoir open, closed ou open,closed"))
        start = end = None
        for name in ("start_date", "end_date"):
            text = _one(params, name)
            if text is not None:
                try:
                    value = parse_datetime(name, text)
                except Refused as exc:
                    problems += exc.messages
                    continue
                if name == "start_date":
                    start = value
                else:
                    end = value
        if problems:
            raise Refused(400, *problems)
        if start is None and end is None:  # to the minute, so the rendering can be kept a while
            end = dt.datetime.now(dt.UTC).replace(second=59, microsecond=999999)
        if start is None:
            start = end - MAX_SPAN
        if end is None:
            end = start + MAX_SPAN
        if end < start:
            raise Refused(400, both("end_date is before start_date", "end_date précède start_date"))
        if end - start > MAX_SPAN:
            raise Refused(400, both("start_date to end_date may span at most 90 days",
                                    "de start_date à end_date, 90 jours au plus"))
        where = [f"service IN ({','.join('?' * len(codes))})", "opened_hlc BETWEEN ? AND ?"]
        args: list[Any] = [*codes, pack(int(start.timestamp() * 1000), 0), pack(int(end.timestamp() * 1000), 0xFFFF)]
        if statuses is not None and statuses != {"open", "closed"}:
            closed = "closed" in statuses
            pairs = [f"{c}/{s}" for c in codes for s in self.services[c].service.transitions
                     if self.services[c].service.is_final(s) == closed]
            if not pairs:
                return "", []
            where.append(f"(service || '/' || status) IN ({','.join('?' * len(pairs))})")
            args += pairs
        return " AND ".join(where), args

    async def request_one(self, request: web.Request) -> web.Response:
        async def handle(fmt: str) -> web.Response:
            self._jurisdiction(request.query)
            codes = list(self.services)
            wanted, lang = request.match_info["service_request_id"], self.lang(request)

            def find(terminal) -> list[dict[str, Any]]:
                rows = self._select(terminal.conn, f"id=? AND service IN ({','.join('?' * len(codes))})",
                                    [wanted, *codes])
                return self._answer(terminal.conn, rows[:1], lang)
            found = await self.server.readers.run(find)
            if not found:
                raise Refused(404, both(f"service_request_id {wanted!r} not found",
                                        f"service_request_id {wanted!r} introuvable"))
            return respond(fmt, found, "service_requests", "request")
        return await self._guarded(request, handle)

    async def token(self, request: web.Request) -> web.Response:
        async def handle(fmt: str) -> web.Response:
            self._jurisdiction(request.query)
            wanted = request.match_info["token"]
            found = await self.server.readers.run(lambda t: intake.lookup(t.conn, wanted))
            if found is None:
                raise Refused(404, both(f"token {wanted!r} not found", f"jeton {wanted!r} introuvable"))
            entry = {"token": found["token"], "service_request_id": found["service_request_id"]}
            if found["error"]:
                entry["service_notice"] = both(f"refused when filed: {found['error']}",
                                               f"refusée à l'enregistrement : {found['error']}")
            return respond(fmt, [entry], "service_requests", "request")
        return await self._guarded(request, handle)


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _contact_problem(name: str, value: str) -> str | None:
    if len(value) > CONTACT_LIMIT or any(ord(c) < 32 for c in value):
        return both(f"{name} must be one line of at most {CONTACT_LIMIT} characters",
                    f"{name} doit tenir sur une ligne de {CONTACT_LIMIT} caractères au plus")
    if name == "email" and not _EMAIL.match(value):
        return both("email must be an e-mail address", "email doit être une adresse e-mail")
    if name == "phone" and not _PHONE.match(value):
        return both("phone must be a phone number", "phone doit être un numéro de téléphone")
    if name == "media_url" and not re.match(r"^https?://[^\s/]+\S*$", value):
        return both("media_url must be an http(s) URL", "media_url doit être une URL http(s)")
    return None

