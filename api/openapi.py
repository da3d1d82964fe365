"""The OpenAPI 3 document served at ``/openapi.json``.

Written by hand next to the handlers and kept true by the schemathesis test,
which calls every operation with generated input and checks each answer's
status, content type and body against what is written here.
"""

from __future__ import annotations

from typing import Any

from hub.citizens import CITIZEN_FIELDS

from .commit import GROUP_LIMIT

JSON = "application/json"
XML = "application/xml"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **more}


def obj(required: list[str], /, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


ERROR = obj(["error"], error=obj(["code", "en", "fr"], code={"type": "string"}, en={"type": "string"},
                                  fr={"type": "string"},
                                  fields={"type": "array", "items": obj(["field", "en", "fr"],
                                                                        field={"type": "string"},
                                                                        en={"type": "string"},
                                                                        fr={"type": "string"})}))


def answers(ok: int, schema: dict[str, Any] | None, *refusals: int) -> dict[str, Any]:
    out: dict[str, Any] = {str(ok): {"description": "done", "content": {JSON: {"schema": schema or {}}}}}
    for status in (400, 401, 403, 404, 405, 409, 413, *refusals):
        out[str(status)] = {"description": "refused; nothing was written",
                            "content": {JSON: {"schema": ref("Error")}}}
    return out


def secured(op: dict[str, Any]) -> dict[str, Any]:
    return {**op, "security": [{"apiKey": []}, {"bearer": []}]}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


CITIZEN_INPUT = {
    "first_name": {"type": "string", "minLength": 1, "maxLength": 200},
    "last_name": {"type": "string", "minLength": 1, "maxLength": 200},
    "birth_date": {"type": "string", "format": "date", "description": "YYYY-MM-DD or DD/MM/YYYY, in the past"},
    "postcode": {"type": "string", "pattern": "^[0-9]{5}$"},
    "phone": {"type": "string", "pattern": "^0[1-9][0-9]{8}$"},
    "address": {"type": "string", "maxLength": 200},
    "email": {"type": "string", "format": "email"},
}


def hub_paths(catalog) -> dict[str, Any]:
    citizen_props = {k: CITIZEN_INPUT.get(k, {"type": "string"}) for k in CITIZEN_FIELDS}
    services = sorted(s.code for s in catalog)
    families = sorted(catalog.families)
    p = "/api/v1"
    return {
        f"{p}/health": {"get": {"operationId": "health", "summary": "Is the server up (no key needed)",
                                "responses": answers(200, obj(["status", "terminal"], status={"type": "string"},
                                                              terminal={"type": "string"}))}},
        f"{p}/services": {"get": secured({"operationId": "listServices", "summary": "The service catalog",
                                          "responses": answers(200, {"type": "array", "items": ref("Service")})})},
        f"{p}/services/{{code}}": {"get": secured({
            "operationId": "getService", "summary": "One service of the catalog",
            "parameters": [path_param("code", "service code, e.g. encombrants")],
            "responses": answers(200, ref("Service"))})},
        f"{p}/citizens": {
            "get": secured({"operationId": "searchCitizens", "summary": "Search citizens (agents)",
                            "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}},
                                           {"name": "limit", "in": "query",
                                            "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
                            "responses": answers(200, {"type": "array", "items": ref("Citizen")})}),
            "post": secured({"operationId": "registerCitizen", "summary": "Register a citizen (agents)",
                             "requestBody": body({"type": "object", "additionalProperties": False,
                                                  "required": ["first_name", "last_name", "birth_date"],
                                                  "properties": citizen_props}),
                             "responses": answers(201, ref("Citizen"))})},
        f"{p}/citizens/{{citizen_id}}": {
            "get": secured({"operationId": "getCitizen", "parameters": [path_param("citizen_id", "citizen id")],
                            "responses": answers(200, ref("Citizen"))}),
            "patch": secured({"operationId": "editCitizen", "parameters": [path_param("citizen_id", "citizen id")],
                              "requestBody": body({"type": "object", "additionalProperties": False,
                                                   "properties": citizen_props}),
                              "responses": answers(200, ref("Citizen"))})},
        f"{p}/citizens/{{citizen_id}}/cases": {"get": secured({
            "operationId": "citizenCases", "parameters": [path_param("citizen_id", "citizen id")],
            "responses": answers(200, {"type": "array", "items": ref("CaseSummary")})})},
        f"{p}/cases": {"post": secured({
            "operationId": "openCase", "summary": "Open a case (agents: for a citizen; kiosks: kiosk services only)",
            "requestBody": body({"type": "object", "additionalProperties": False, "required": ["service"],
                                 "properties": {"service": {"type": "string", "enum": services},
                                                "citizen_id": nullable("string"),
                                                "fields": {"type": "object"},
                                                "contact": {"type": "object", "maxProperties": 10,
                                                            "additionalProperties": {"type": "string", "maxLength": 200}}}}),
            "responses": answers(201, ref("Case"))})},
        f"{p}/cases/check": {"post": secured({
            "operationId": "checkCase", "summary": "A citizen checks a case: tracking code and verification",
            "requestBody": body(obj(["tracking_code", "verification"], tracking_code={"type": "string"},
                                    verification={"type": "string"})),
            "responses": answers(200, ref("PublicCase"))})},
        f"{p}/cases/{{key}}": {"get": secured({
            "operationId": "getCase", "parameters": [path_param("key", "case id or tracking code")],
            "responses": answers(200, ref("Case"))})},
        f"{p}/cases/{{key}}/status": {"post": secured({
            "operationId": "moveCase", "parameters": [path_param("key", "case id or tracking code")],
            "requestBody": body(obj(["status"], status={"type": "string"}, reason=nullable("string"))),
            "responses": answers(200, ref("Case"))})},
        f"{p}/cases/{{key}}/notes": {"post": secured({
            "operationId": "noteCase", "parameters": [path_param("key", "case id or tracking code")],
            "requestBody": body(obj(["text"], text={"type": "string"})),
            "responses": answers(201, ref("Case"))})},
        f"{p}/cases/{{key}}/payments": {"post": secured({
            "operationId": "takePayment", "parameters": [path_param("key", "case id or tracking code")],
            "requestBody": body(obj(["amount_cents", "method"], amount_cents={"type": "integer"},
                                    method={"type": "string", "enum": ["cash", "card", "cheque"]})),
            "responses": answers(201, ref("Payment"))})},
        f"{p}/payments/{{payment_id}}": {"get": secured({
            "operationId": "getPayment", "parameters": [path_param("payment_id", "payment id")],
            "responses": answers(200, ref("Payment"))})},
        f"{p}/payments/{{payment_id}}/refunds": {"post": secured({
            "operationId": "refundPayment", "parameters": [path_param("payment_id", "payment id")],
            "requestBody": body(obj(["amount_cents", "reason"], amount_cents={"type": "integer"},
                                    reason={"type": "string"})),
            "responses": answers(201, ref("Payment"))})},
        f"{p}/queue/tickets": {
            "get": secured({"operationId": "waitingTickets", "summary": "Tickets waiting today (agents)",
                            "responses": answers(200, {"type": "array", "items": ref("Ticket")})}),
            "post": secured({"operationId": "issueTicket", "summary": "Issue a queue ticket for a service family",
                             "requestBody": body(obj(["family"], family={"type": "string", "enum": families})),
                             "responses": answers(201, ref("Ticket"))})},
        f"{p}/queue/call": {"post": secured({
            "operationId": "callTicket", "summary": "Call the ticket that has waited longest",
            "requestBody": body({"type": "object", "properties": {
                "families": {"type": "array", "items": {"type": "string"}}, "desk": nullable("string")}}),
            "responses": answers(200, obj(["ticket"], ticket={**ref("Ticket"), "nullable": True}))})},
        f"{p}/queue/tickets/{{ticket_id}}/close": {"post": secured({
            "operationId": "closeTicket", "parameters": [path_param("ticket_id", "ticket id")],
            "requestBody": body(obj(["outcome"], outcome={"type": "string", "enum": ["served", "no_show"]})),
            "responses": answers(200, ref("Ticket"))})},
    }


def hub_schemas() -> dict[str, Any]:
    case_common = dict(id={"type": "string"}, service={"type": "string"}, citizen_id=nullable("string"),
                       status={"type": "string"}, fields={"type": "object"}, tracking_code={"type": "string"},
                       opened_hlc={"type": "integer"}, updated_hlc={"type": "integer"})
    return {
        "Error": ERROR,
        "Service": obj(["code", "names", "fields", "policy", "workflow"], code={"type": "string"},
                       names={"type": "object"}, fields={"type": "array", "items": {"type": "object"}},
                       policy={"type": "string", "enum": ["full", "deferred", "unavailable"]},
                       kiosk={"type": "boolean"}, workflow={"type": "object"}),
        "Citizen": obj(["id", "first_name", "last_name"], id={"type": "string"},
                       **{k: nullable("string") for k in CITIZEN_FIELDS}),
        "CaseSummary": obj(["id", "service", "status", "tracking_code"], **case_common),
        "Case": obj(["id", "service", "status", "tracking_code", "timeline", "allowed", "fee_cents", "paid_cents"],
                    **case_common, allowed={"type": "array", "items": {"type": "string"}},
                    timeline={"type": "array", "items": {"type": "object"}},
                    notes={"type": "array", "items": {"type": "object"}},
                    payments={"type": "array", "items": {"type": "object"}},
                    fee_cents={"type": "integer"}, paid_cents={"type": "integer"}),
        "PublicCase": obj(["id", "tracking_code", "service", "status", "steps"], id={"type": "string"},
                          tracking_code={"type": "string"}, service={"type": "string"}, status={"type": "string"},
                          steps={"type": "array", "items": {"type": "object"}}),
        "Payment": obj(["id", "case_id", "kind", "amount_cents", "method", "receipt_number"], id={"type": "string"},
                       case_id={"type": "string"}, kind={"type": "string", "enum": ["payment", "refund"]},
                       amount_cents={"type": "integer"}, method={"type": "string"},
                       receipt_number={"type": "string"}, refund_of=nullable("string")),
        "Ticket": obj(["id", "label", "family", "status"], id={"type": "string"}, label={"type": "string"},
                      family={"type": "string"}, status={"type": "string"}, number={"type": "integer"}),
    }


# --- Open311 ------------------------------------------------------------------

def _o311_answer(ok: int, schema: dict[str, Any], *refusals: int) -> dict[str, Any]:
    out = {str(ok): {"description": "done", "content": {JSON: {"schema": schema},
                                                        XML: {"schema": {"type": "string"}}}}}
    for status in refusals:
        out[str(status)] = {"description": "the spec's error list",
                            "content": {JSON: {"schema": ref("Open311Errors")}, XML: {"schema": {"type": "string"}}}}
    return out


def open311_paths(server) -> dict[str, Any]:
    p = "/open311/v2"
    jurisdiction = {"name": "jurisdiction_id", "in": "query", "schema": {"type": "string"},
                    "description": f"optional; this endpoint serves {server.jurisdiction!r}"}
    paths: dict[str, Any] = {}
    for fmt in ("json", "xml"):
        tag = fmt.upper()
        paths[f"{p}/services.{fmt}"] = {"get": {
            "operationId": f"open311Services{tag}", "summary": "GeoReport v2: service list",
            "parameters": [jurisdiction], "responses": _o311_answer(200, ref("Open311Services"), 404)}}
        paths[f"{p}/services/{{service_code}}.{fmt}"] = {"get": {
            "operationId": f"open311ServiceDefinition{tag}", "summary": "GeoReport v2: service definition",
            "parameters": [path_param("service_code", "Open311 service code"), jurisdiction],
            "responses": _o311_answer(200, ref("Open311ServiceDefinition"), 400, 404)}}
        paths[f"{p}/requests.{fmt}"] = {
            "post": {
                "operationId": f"open311CreateRequest{tag}", "summary": "GeoReport v2: post a service request",
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
                    "schema": ref("Open311NewRequest")}}},
                "responses": _o311_answer(201, ref("Open311Created"), 400, 403, 404)},
            "get": {
                "operationId": f"open311Requests{tag}", "summary": "GeoReport v2: service requests",
                "parameters": [
                    {"name": "service_request_id", "in": "query", "schema": {"type": "string"},
                     "description": "comma list; overrides every other filter"},
                    {"name": "service_code", "in": "query", "schema": {"type": "string"}},
                    {"name": "start_date", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "end_date", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "status", "in": "query", "schema": {"type": "string"}}, jurisdiction],
                "responses": _o311_answer(200, ref("Open311Requests"), 400, 404)}}
        paths[f"{p}/requests/{{service_request_id}}.{fmt}"] = {"get": {
            "operationId": f"open311Request{tag}", "summary": "GeoReport v2: one service request",
            "parameters": [path_param("service_request_id", "service request id"), jurisdiction],
            "responses": _o311_answer(200, ref("Open311Requests"), 404)}}
        paths[f"{p}/tokens/{{token}}.{fmt}"] = {"get": {
            "operationId": f"open311Token{tag}", "summary": "GeoReport v2: service request id from a token",
            "parameters": [path_param("token", "token from POST requests"), jurisdiction],
            "responses": _o311_answer(200, ref("Open311Tokens"), 404)}}
    return paths


def open311_schemas(server) -> dict[str, Any]:
    s = {"type": "string"}
    new_request = {"type": "object", "required": ["api_key", "service_code"], "properties": {
        "api_key": s, "service_code": s, "jurisdiction_id": s, "lat": {"type": "number"}, "long": {"type": "number"},
        "address_string": s, "address_id": s, "email": s, "device_id": s, "account_id": s, "first_name": s,
        "last_name": s, "phone": s, "description": s, "media_url": s}}
    for mapping in server_mappings(server):
        for field in mapping.attributes:
            new_request["properties"][f"attribute[{field.key}]"] = s
    return {
        "Open311Errors": {"type": "array", "items": obj(["code", "description"], code={"type": "integer"},
                                                        description=s)},
        "Open311Services": {"type": "array", "items": obj(
            ["service_code", "service_name", "metadata", "type"], service_code=s, service_name=s,
            description=nullable("string"), metadata={"type": "boolean"},
            type={"type": "string", "enum": ["realtime", "batch", "blackbox"]},
            keywords=nullable("string"), group=nullable("string"))},
        "Open311ServiceDefinition": obj(["service_code", "attributes"], service_code=s, attributes={
            "type": "array", "items": obj(["variable", "code", "datatype", "required"], variable={"type": "boolean"},
                                          code=s, datatype={"type": "string", "enum": [
                                              "string", "number", "datetime", "text", "singlevaluelist",
                                              "multivaluelist"]},
                                          required={"type": "boolean"}, datatype_description=nullable("string"),
                                          order=nullable("integer"), description=nullable("string"),
                                          values={"type": "array", "items": obj(["key", "name"], key=s, name=s)})}),
        "Open311NewRequest": new_request,
        "Open311Created": {"type": "array", "items": {"type": "object", "properties": {
            "service_request_id": s, "token": s, "service_notice": nullable("string"),
            "account_id": nullable("string")}}},
        "Open311Tokens": {"type": "array", "items": obj(["token"], token=s,
                                                        service_request_id=nullable("string"),
                                                        service_notice=nullable("string"))},
        "Open311Requests": {"type": "array", "items": obj(
            ["service_request_id", "status", "service_code", "requested_datetime"],
            service_request_id=s, status={"type": "string", "enum": ["open", "closed"]},
            status_notes=nullable("string"), service_name=nullable("string"), service_code=s,
            description=nullable("string", maxLength=4000), agency_responsible=nullable("string"),
            service_notice=nullable("string"), requested_datetime={"type": "string", "format": "date-time"},
            updated_datetime=nullable("string", format="date-time"),
            expected_datetime=nullable("string", format="date-time"), address=nullable("string"),
            address_id=nullable("string"), zipcode=nullable("string"), lat=nullable("number"),
            long=nullable("number"), media_url=nullable("string"))},
    }


def server_mappings(server):
    from .open311 import mappings
    return mappings(server.catalog).values()


# OpenAPI links from a created resource to the operations that take its id:
# the stateful schemathesis run follows them, so it reaches real records.
ID = "$response.body#/id"
LINKS = {
    ("/api/v1/citizens", "post", "201"): {"GetCitizen": ("getCitizen", "citizen_id", ID),
                                          "EditCitizen": ("editCitizen", "citizen_id", ID),
                                          "CitizenCases": ("citizenCases", "citizen_id", ID)},
    ("/api/v1/cases", "post", "201"): {"GetCase": ("getCase", "key", ID), "MoveCase": ("moveCase", "key", ID),
                                       "NoteCase": ("noteCase", "key", ID),
                                       "TakePayment": ("takePayment", "key", ID)},
    ("/api/v1/cases/{key}/payments", "post", "201"): {"GetPayment": ("getPayment", "payment_id", ID),
                                                      "RefundPayment": ("refundPayment", "payment_id", ID)},
    ("/api/v1/queue/tickets", "post", "201"): {"CloseTicket": ("closeTicket", "ticket_id", ID)},
    ("/open311/v2/requests.json", "post", "201"): {
        "GetRequest": ("open311RequestJSON", "service_request_id", "$response.body#/0/service_request_id")},
}


def with_links(paths: dict[str, Any]) -> dict[str, Any]:
    for (path, method, status), links in LINKS.items():
        paths[path][method]["responses"][status]["links"] = {
            name: {"operationId": target, "parameters": {param: expression}}
            for name, (target, param, expression) in links.items()}
    return paths


# The footprint and process metrics, for Prometheus: the scrape token of the
# home (``hub.scrape``, file metrics.token), not an API key.
METRICS_PATH: dict[str, Any] = {"/metrics": {"get": {
    "operationId": "metrics", "summary": "Footprint of every démarche and process metrics (Prometheus text format)",
    "security": [{"scrapeToken": []}],
    "responses": {"200": {"description": "Prometheus text exposition format 0.0.4",
                          "content": {"text/plain": {"schema": {"type": "string"}}}},
                  "401": {"description": "no or wrong scrape token (Authorization: Bearer <metrics.token>)",
                          "content": {JSON: {"schema": ref("Error")}}}}}}}


def document(server) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Beffroi terminal API", "version": "1",
                 "description": "The hub of one Beffroi terminal (/api/v1, API key required) and its Open311 "
                                "GeoReport v2 endpoint (/open311/v2). Errors carry English and French. Writes are "
                                f"group-committed (up to {GROUP_LIMIT} per transaction) and answered once durable."},
        "servers": [{"url": "/"}],
        "paths": with_links({**hub_paths(server.catalog), **open311_paths(server), **METRICS_PATH}),
        "components": {
            "schemas": {**hub_schemas(), **open311_schemas(server)},
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                                "bearer": {"type": "http", "scheme": "bearer"},
                                "scrapeToken": {"type": "http", "scheme": "bearer",
                                                "description": "the content of metrics.token in the home"}},
        },
    }
