"""The SoR's HTTP interface as an OpenAPI 3 document: what a terminal (or an
integrator writing another client) may send and what comes back. The tests
run schemathesis against it with requests signed by an enrolled device, so
every answer, refusals included, must stay inside what is written here."""

from __future__ import annotations

from typing import Any

REFUSAL = {"type": "object", "required": ["error", "en", "fr"],
           "properties": {"error": {"type": "string"}, "en": {"type": "string"}, "fr": {"type": "string"}}}
SIGNED = [{"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
          for name in ("X-Beffroi-Key", "X-Beffroi-Time", "X-Beffroi-Nonce", "X-Beffroi-Signature")]
ULID = {"type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$"}


def _refusals(*codes: int) -> dict[str, Any]:
    return {str(code): {"description": "refused, in English and French",
                        "content": {"application/json": {"schema": REFUSAL}}} for code in codes}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def document() -> dict[str, Any]:
    auth = (400, 401, 403, 408, 413)
    position = [{"name": "origin", "in": "path", "required": True, "schema": ULID},
                {"name": "first", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
    document_name = [{"name": "name", "in": "path", "required": True,
                      "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}]
    return {
        "openapi": "3.0.3",
        "info": {"title": "Beffroi system of record", "version": "1"},
        "paths": {
            "/v1/health": {"get": {"parameters": SIGNED, "responses": {
                "200": _json("alive; details for a signed caller"), **_refusals(*auth)}}},
            "/v1/city": {"get": {"responses": {"200": _json("the city's public keys")}}},
            "/metrics": {"get": {"responses": {"200": {
                "description": "segments and bytes stored per terminal, devices, epoch; process metrics (Prometheus)",
                "content": {"text/plain": {"schema": {"type": "string"}}}},
                "401": _json("no or wrong scrape token: Authorization: Bearer <metrics.token of the SoR home>")}}},
            "/v1/enrol": {"post": {
                "parameters": SIGNED,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {k: {"type": "string"} for k in
                                                     ("terminal", "name", "sign_pub", "kx_pub", "invite",
                                                      "office")}}}}},
                "responses": {"200": _json("known already"), "202": _json("pending approval"),
                              **_refusals(*auth, 422, 429, 503)}}},
            "/v1/devices": {
                "get": {"parameters": SIGNED, "responses": {
                    "200": _json("certificates and revocations"), **_refusals(*auth)}},
                # an office relay learns terminals approved after it was made (admin-signed certificates only)
                "post": {"requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"devices": {"type": "array"}, "revocations": {}}}}}},
                         "responses": {"200": _json("devices learnt", {"type": "object", "required": ["added"],
                                                                         "properties": {"added": {"type": "integer"}}}),
                                       **_refusals(400, 408, 413, 422)}}},
            "/v1/keys": {"get": {"parameters": SIGNED, "responses": {
                "200": _json("wrapped epoch keys"), **_refusals(*auth)}}},
            "/v1/heads": {"get": {"parameters": SIGNED, "responses": {
                "200": _json("last segment of each terminal"), **_refusals(*auth)}}},
            "/v1/feed": {"get": {
                "parameters": [*SIGNED, {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
                               {"name": "limit", "in": "query", "required": False, "schema": {"type": "string"}}],
                "responses": {"200": _json("segments after the cursor"), **_refusals(*auth)}}},
            "/v1/orders": {"get": {"parameters": SIGNED, "responses": {
                "200": _json("the incident orders published here, as their exact signed text", {
                    "type": "object", "required": ["orders"],
                    "properties": {"orders": {"type": "array", "items": {"type": "string"}}}}),
                **_refusals(*auth)}}},
            "/v1/orders/{order_id}": {"put": {
                "parameters": [{"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": _json("published already"), "201": _json("published"),
                              **_refusals(400, 408, 413, 422)}}},
            "/v1/segments/{origin}/{first}": {
                "put": {"parameters": [*position, *SIGNED],
                        "requestBody": {"required": True, "content": {"application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}}}},
                        "responses": {"200": _json("stored already"), "201": _json("stored"),
                                      **_refusals(*auth, 409, 422)}},
                "get": {"parameters": [*position, *SIGNED],
                        "responses": {"200": {"description": "the sealed segment", "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                            **_refusals(*auth, 404)}},
            },
            "/v1/vault/{name}": {   # replication/sor_vault.py: sealed vault documents
                "put": {"parameters": [*document_name, *SIGNED],
                        "requestBody": {"required": True, "content": {"application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}}}},
                        "responses": {"200": _json("stored already"), "201": _json("stored"),
                                      **_refusals(*auth, 409, 410, 422)}},
                "get": {"parameters": [*document_name, *SIGNED],
                        "responses": {"200": {"description": "the sealed document", "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                            **_refusals(*auth, 404, 410)}},
                "delete": {"parameters": [*document_name, *SIGNED],
                           "responses": {"200": _json("erased (and any later upload under this name refused)"),
                                         **_refusals(*auth)}},
            },
        },
    }
