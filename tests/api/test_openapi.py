"""schemathesis against /openapi.json: every operation is called with input
generated from the document, and every answer must be no server error and
match the documented status codes, content types, headers and body schemas."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import keys
from hub.roles import Principal
from hub.terminal import Terminal

from .conftest import Running, auth

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
EXAMPLES = 30  # per operation: 32 operations stay well within a couple of minutes on 2 cores


def start_live(home):
    """A server on a fresh home, with a citizen so that reads can find something."""
    with Terminal.init(home, "MAIRIE-01") as t:
        key = keys.create(t.conn, "schemathesis", "ops")["api_key"]
        desk = t.session(Principal.agent("agent"))
        desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
    running = Running(home)
    running.key = key
    return running


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    running = start_live(tmp_path_factory.mktemp("openapi") / "home")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api_schema(live):
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_document(case, live):
    case.call_and_validate(base_url=live.url, headers=auth(live.key), checks=CHECKS)


def test_document_covers_every_route(live):
    """Every route the server answers is in the document, and the reverse."""
    document = requests.get(f"{live.url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    from api.server import Server
    server = Server(live.home)
    try:
        served = set()
        for route in server.app().router.routes():
            info = route.resource.get_info()
            path = info.get("path") or info.get("formatter")
            if route.method == "HEAD":
                continue
            for fmt in ("json", "xml"):
                served.add((path.replace("{fmt}", fmt), route.method))
    finally:
        server.committer.close()
        server.writer.close()
        server.reader.close()
    served.discard(("/openapi.json", "GET"))
    assert documented == served


def test_stateful_runs_follow_the_links(api_schema, tmp_path_factory):
    """Sequences of calls chained by the document's links (register → read →
    edit, open → move → pay → refund, post → read back) keep the document too.

    Each sequence gets a server on a fresh home: with one shared server, what a
    sequence can do depends on what the previous ones left (a case already
    moved), and hypothesis rightly calls such a run flaky."""
    base = api_schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def setup(self):
            self.live = start_live(tmp_path_factory.mktemp("stateful") / "home")

        def teardown(self):
            self.live.stop()

        def get_call_kwargs(self, case):
            return {"base_url": self.live.url, "headers": auth(self.live.key)}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Machine.run(settings=settings(max_examples=25, stateful_step_count=6, deadline=None, derandomize=True,
                                  suppress_health_check=list(HealthCheck)))
