"""The catalog's continuity policy, enforced by the hub at every door: in
isolated mode an `unavailable` service is refused with a reason an agent can
read to the citizen, a `deferred` one is accepted and marked for the back
office, a `full` one completes locally — through the hub, the CLI, the HTTP
API and Open311 alike (the counter and kiosk: tests/tui/test_continuity.py)."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
import requests

from continuity import incident, transitions
from hub.catalog import default_catalog
from hub.demo import sample_fields
from hub.mode import ServiceUnavailable
from hub.roles import Principal
from hub.terminal import Terminal
from tests.api.conftest import Running, auth
from tests.conftest import run_cli

from .conftest import NOW, agent_session

SERVICES = [s.code for s in default_catalog()]
TODAY = dt.date.today()


def isolate(terminal: Terminal) -> None:
    incident.isolate_here(terminal, Principal.ops("luc"), "rançongiciel", NOW)


def fields_for(code: str, citizen: dict) -> dict:
    return sample_fields(code, random.Random(code), citizen, TODAY)


def test_the_catalog_has_every_policy():
    policies = {s.policy for s in default_catalog()}
    assert policies == {"full", "deferred", "unavailable"} and len(SERVICES) == 9


@pytest.mark.parametrize("code", SERVICES)
def test_hub_enforces_the_policy_of_each_service(terminal, code):
    desk = agent_session(terminal)
    citizen = desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12",
                                     postcode="49000", address="3 rue Pasteur")
    online = desk.cases.open(code, citizen["id"], fields_for(code, citizen))
    assert online["deferred"] == 0
    isolate(terminal)
    service = terminal.catalog.get(code)
    before = terminal.journal.count()
    if service.policy == "unavailable":
        with pytest.raises(ServiceUnavailable) as caught:
            desk.cases.open(code, citizen["id"], fields_for(code, citizen))
        assert "isolated" in caught.value.en and "mode isolé" in caught.value.fr
        assert service.names["fr"] in caught.value.fr
        assert terminal.journal.count() == before
        return
    case = desk.cases.open(code, citizen["id"], fields_for(code, citizen))
    assert case["deferred"] == (1 if service.policy == "deferred" else 0)
    assert case["status"] == service.initial
    opened = case["timeline"][0]["data"]
    assert opened["register"] == 1 and opened.get("deferred", False) == (service.policy == "deferred")


def test_cli_obeys_the_mode(tmp_path):
    home = tmp_path / "home"
    with Terminal.init(home, "MAIRIE-01") as t:
        citizen = agent_session(t).citizens.register(first_name="Hélène", last_name="Dupont",
                                                     birth_date="1985-03-12", address="3 rue Pasteur")
        isolate(t)
    for code in SERVICES:
        args = ["case", "new", "--service", code, "--citizen", citizen["id"], "--json"]
        for key, value in fields_for(code, citizen).items():
            args += ["--field", f"{key}={value}"]
        done = run_cli(*args, home=home)
        policy = default_catalog().get(code).policy
        if policy == "unavailable":
            assert done.returncode == 2 and done.stdout == ""
            assert done.stderr.count("\n") == 1 and done.stderr.startswith("beffroi: error: ")
            assert "isolated mode" in done.stderr
        else:
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["deferred"] == (policy == "deferred")
    mode = json.loads(run_cli("mode", "--json", home=home).stdout)
    assert mode["mode"] == "isolated" and mode["register"]["next"] == 9  # 8 acts numbered 1…8


@pytest.fixture
def served(tmp_path):
    from api import keys
    home = tmp_path / "home"
    with Terminal.init(home, "MAIRIE-01") as t:
        citizen = agent_session(t).citizens.register(first_name="Hélène", last_name="Dupont",
                                                     birth_date="1985-03-12", address="3 rue Pasteur")
        api_keys = {role: keys.create(t.conn, f"test-{role}", role)["api_key"] for role in ("agent", "kiosk")}
    running = Running(home)
    yield running, home, citizen, api_keys
    running.stop()


def test_http_api_obeys_a_mode_change_at_once(served):
    server, home, citizen, api_keys = served

    def open_case(code: str):
        r = requests.post(f"{server.url}/api/v1/cases", headers=auth(api_keys["agent"]), timeout=10,
                          json={"service": code, "citizen_id": citizen["id"], "fields": fields_for(code, citizen)})
        return r.status_code, r.json()

    assert open_case("forfait-post-stationnement")[0] == 201
    with Terminal.open(home) as t:   # another process's view: the server reads the mode from the hub
        isolate(t)
    for code in SERVICES:
        status, body = open_case(code)
        policy = default_catalog().get(code).policy
        if policy == "unavailable":
            assert status == 409 and body["error"]["code"] == "unavailable_in_mode"
            assert "mode isolé" in body["error"]["fr"] and "isolated" in body["error"]["en"]
        else:
            assert status == 201 and body["deferred"] == (policy == "deferred")


def test_open311_switches_to_batch_while_isolated_and_back(served):
    server, home, _, api_keys = served
    report = {"api_key": api_keys["kiosk"], "service_code": "signalement", "lat": "47.4712", "long": "-0.5518",
              "attribute[category]": "eclairage", "description": "Lampadaire éteint"}

    def service_type() -> str:
        return requests.get(f"{server.url}/open311/v2/services.json", timeout=10).json()[0]["type"]

    def post() -> dict:
        r = requests.post(f"{server.url}/open311/v2/requests.json", data=report, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()[0]

    assert service_type() == "realtime" and "service_request_id" in post()
    with Terminal.open(home) as t:
        isolate(t)
    assert service_type() == "batch"
    token = post()["token"]
    from tests.waiting import wait_until

    def filed():
        r = requests.get(f"{server.url}/open311/v2/tokens/{token}.json", timeout=10).json()
        return r[0].get("service_request_id")
    assert wait_until(filed, what="the batch report filed as a case")
    with Terminal.open(home) as t:
        transitions.move(t.session(Principal.system()), "recovery", "incident ended")
    assert service_type() == "realtime" and "service_request_id" in post()


def test_open311_refuses_a_service_the_city_made_unavailable_with_the_reason(tmp_path):
    """The shipped catalog maps only `signalement` (full) to Open311, and its
    one `unavailable` service, the FPS, is no GeoReport service. A city whose
    works department takes reports only in its own (now encrypted) system marks
    `signalement` unavailable in its catalog: Open311 then answers an error
    with the reason, and stores nothing (no case, no batch token)."""
    from importlib import resources

    from api import keys
    from hub.catalog import Catalog
    from tests.api.conftest import stored
    data = json.loads(resources.files("hub").joinpath("catalog.json").read_text("utf-8"))
    for entry in data["services"]:
        if entry["code"] == "signalement":
            entry["policy"] = "unavailable"
    works_first = Catalog(data)
    home = tmp_path / "home"
    with Terminal.init(home, "MAIRIE-01") as t:
        api_key = keys.create(t.conn, "test-kiosk", "kiosk")["api_key"]
        isolate(t)
    report = {"api_key": api_key, "service_code": "signalement", "lat": "47.4712", "long": "-0.5518",
              "attribute[category]": "eclairage", "description": "Lampadaire éteint"}
    server = Running(home, catalog=works_first)
    try:
        listed = requests.get(f"{server.url}/open311/v2/services.json", timeout=10).json()
        assert [s["service_code"] for s in listed] == ["signalement"]
        before = stored(home)
        for fmt in ("json", "xml"):
            r = requests.post(f"{server.url}/open311/v2/requests.{fmt}", data=report, timeout=10)
            assert r.status_code == 400, r.text
            if fmt == "json":
                [error] = r.json()
                assert error["code"] == 400
                assert "is unavailable while the city's systems are cut off (isolated mode)" in error["description"]
                assert "« Signalement" in error["description"] and "mode isolé" in error["description"]
            else:
                assert "<error>" in r.text and "mode isolé" in r.text
        assert stored(home) == before
        with Terminal.open(home) as t:
            assert t.conn.execute("SELECT count(*) FROM cases").fetchone()[0] == 0
            assert t.conn.execute("SELECT count(*) FROM open311_intake").fetchone()[0] == 0
    finally:
        server.stop()
