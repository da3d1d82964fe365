"""Open311 GeoReport v2 conformance, written from the specification: every
endpoint in JSON and XML, every error case, every JSON answer validated against
the specification's JSON schemas; refused input leaves nothing stored."""

from __future__ import annotations

import datetime as dt
import json
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import requests
from referencing import Registry
from referencing.jsonschema import DRAFT7

from hub.roles import Principal
from hub.terminal import Terminal
from tests.waiting import wait_until

from .conftest import SCHEMAS, stored

REGISTRY = Registry().with_resources(
    (p.name, DRAFT7.create_resource(json.loads(p.read_text()))) for p in SCHEMAS.glob("*.json"))

GOOD = {"service_code": "signalement", "lat": "47.4712", "long": "-0.5518", "attribute[category]": "eclairage",
        "description": "Lampadaire éteint devant le 3 rue Pasteur", "email": "hélène@exemple.fr",
        "first_name": "Hélène", "last_name": "Dupont", "phone": "06 12 34 56 78",
        "media_url": "https://photos.exemple.fr/lampadaire.jpg"}


def conforms(name: str, data) -> None:
    """Validate against the spec schema ``name`` (refs resolved to sibling files),
    with formats checked (date-time, uri)."""
    schema = json.loads((SCHEMAS / name).read_text())
    validator = jsonschema.Draft7Validator(schema, registry=REGISTRY, format_checker=FORMATS)
    errors = sorted(validator.iter_errors(data), key=str)
    assert not errors, errors[0]
    for item in data if isinstance(data, list) else [data]:
        # the list schemas put their $ref under items: validate each item directly too
        if name == "requests.json":
            conforms("request.json", item)
        if name == "services.json":
            conforms("service.json", item)


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(text) -> bool:
    if not isinstance(text, str) or "T" not in text:
        raise ValueError("not a date-time")
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("no time zone")
    return True


def xml(r: requests.Response) -> ET.Element:
    assert r.headers["Content-Type"].startswith("application/xml")
    return ET.fromstring(r.content)


def post(server, fmt: str = "json", **fields) -> requests.Response:
    return requests.post(f"{server.url}/open311/v2/requests.{fmt}", data=fields, timeout=10)


def create(server, key: str, **more) -> str:
    r = post(server, api_key=key, **{**GOOD, **more})
    assert r.status_code == 201, r.text
    return r.json()[0]["service_request_id"]


def errors_of(r: requests.Response, fmt: str, status: int) -> list[str]:
    assert r.status_code == status, r.text
    if fmt == "json":
        body = r.json()
        assert isinstance(body, list) and body
        for e in body:
            assert set(e) == {"code", "description"} and e["code"] == status and e["description"]
        return [e["description"] for e in body]
    root = xml(r)
    assert root.tag == "errors"
    found = root.findall("error")
    assert found and all(int(e.findtext("code")) == status for e in found)
    return [e.findtext("description") for e in found]


# --- services -----------------------------------------------------------------

def test_service_list_json_and_xml(server):
    r = requests.get(f"{server.url}/open311/v2/services.json", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    services = r.json()
    conforms("services.json", services)
    assert [s["service_code"] for s in services] == ["signalement"]  # only catalog entries with `open311`
    s = services[0]
    assert s["metadata"] is True and s["type"] == "realtime" and s["group"] == "voirie"
    assert "lampadaire" in s["keywords"]
    root = xml(requests.get(f"{server.url}/open311/v2/services.xml", timeout=10))
    assert root.tag == "services"
    service = root.find("service")
    assert service.findtext("service_code") == "signalement" and service.findtext("metadata") == "true"
    assert service.findtext("type") == "realtime"
    english = requests.get(f"{server.url}/open311/v2/services.json", headers={"Accept-Language": "en"}, timeout=10)
    assert english.json()[0]["service_name"] == "Report of broken public equipment"


def test_service_definition_from_the_catalog(server):
    r = requests.get(f"{server.url}/open311/v2/services/signalement.json", timeout=10)
    definition = r.json()
    conforms("service-definition.json", definition)
    (category,) = definition["attributes"]  # location and description are Open311 parameters, not attributes
    assert category["code"] == "category" and category["datatype"] == "singlevaluelist" and category["required"]
    assert {v["key"] for v in category["values"]} == {"eclairage", "chaussee", "signalisation", "mobilier",
                                                      "proprete", "autre"}
    root = xml(requests.get(f"{server.url}/open311/v2/services/signalement.xml", timeout=10))
    assert root.tag == "service_definition"
    values = root.findall("attributes/attribute/values/value")
    assert {v.findtext("key") for v in values} == {v["key"] for v in category["values"]}
    for fmt in ("json", "xml"):
        # a catalog service without an open311 entry is not an Open311 service
        for code in ("acte-naissance", "nope"):
            r = requests.get(f"{server.url}/open311/v2/services/{code}.{fmt}", timeout=10)
            assert code in errors_of(r, fmt, 404)[0]


def test_jurisdiction(server):
    ok = requests.get(f"{server.url}/open311/v2/services.json", params={"jurisdiction_id": "ville-de-beffroi"},
                      timeout=10)
    assert ok.status_code == 200
    for fmt in ("json", "xml"):
        r = requests.get(f"{server.url}/open311/v2/services.{fmt}", params={"jurisdiction_id": "paris.fr"}, timeout=10)
        assert "paris.fr" in errors_of(r, fmt, 404)[0]


# --- create → read --------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_create_then_read_in_both_formats(server, api_keys, fmt):
    r = post(server, fmt, api_key=api_keys["kiosk"], **GOOD)
    assert r.status_code == 201, r.text
    if fmt == "json":
        (answer,) = r.json()
        request_id = answer["service_request_id"]
    else:
        root = xml(r)
        assert root.tag == "service_requests"
        request_id = root.findtext("request/service_request_id")
        assert root.find("request/service_notice").text
    with Terminal.open(server.home) as t:
        case = t.session(Principal.system()).cases.get(request_id)
        opened = case["timeline"][0]
    assert case["service"] == "signalement" and case["citizen_id"] is None
    assert case["fields"] == {"category": "eclairage", "location": {"lat": 47.4712, "long": -0.5518},
                              "description": GOOD["description"]}
    assert opened["actor"] == "kiosk:api:test-kiosk"  # anonymous reporter: a kiosk-like principal named by the key
    assert opened["data"]["contact"] == {"email": GOOD["email"], "first_name": "Hélène", "last_name": "Dupont",
                                         "phone": GOOD["phone"], "media_url": GOOD["media_url"]}

    one = requests.get(f"{server.url}/open311/v2/requests/{request_id}.{fmt}", timeout=10)
    listed = requests.get(f"{server.url}/open311/v2/requests.{fmt}", params={"service_request_id": request_id},
                          timeout=10)
    if fmt == "json":
        conforms("requests.json", one.json())
        conforms("requests.json", listed.json())
        item = one.json()[0]
        assert listed.json() == one.json()
        assert item["status"] == "open" and item["lat"] == 47.4712 and item["long"] == -0.5518
        assert item["description"] == GOOD["description"] and item["service_code"] == "signalement"
        assert item["media_url"] == GOOD["media_url"]
        assert "email" not in item and "Dupont" not in one.text  # the reporter's contact is never public
    else:
        root = xml(one)
        assert root.findtext("request/service_request_id") == request_id
        assert root.findtext("request/status") == "open"
        assert float(root.findtext("request/lat")) == 47.4712
        assert "Dupont" not in one.text
        assert xml(listed).findtext("request/service_request_id") == request_id


def test_address_string_and_address_id(server, api_keys):
    by_address = create(server, api_keys["kiosk"], lat=None, long=None, address_string="3 rue Pasteur, Angers")
    by_id = create(server, api_keys["kiosk"], lat=None, long=None, address_id="BAN-49007-0042")
    got = requests.get(f"{server.url}/open311/v2/requests.json",
                       params={"service_request_id": f"{by_address},{by_id}"}, timeout=10).json()
    conforms("requests.json", got)
    found = {g["service_request_id"]: g for g in got}
    assert found[by_address]["address"] == "3 rue Pasteur, Angers" and found[by_address]["lat"] is None
    assert found[by_id]["address_id"] == "BAN-49007-0042" and found[by_id]["address"] is None


def test_status_follows_the_workflow(server, api_keys):
    open_id, closed_id = create(server, api_keys["kiosk"]), create(server, api_keys["kiosk"])
    with Terminal.open(server.home) as t:
        cases = t.session(Principal.agent("agent")).cases
        cases.move(closed_id, "acknowledged")
        cases.move(closed_id, "resolved")  # final status → closed
        cases.move(open_id, "acknowledged")  # not final → still open
    url = f"{server.url}/open311/v2/requests.json"
    closed = requests.get(url, params={"status": "closed"}, timeout=10).json()
    opened = requests.get(url, params={"status": "open"}, timeout=10).json()
    both = requests.get(url, params={"status": "open,closed"}, timeout=10).json()
    for answer in (closed, opened, both):
        conforms("requests.json", answer)
    assert [r["service_request_id"] for r in closed] == [closed_id]
    assert [r["service_request_id"] for r in opened] == [open_id]
    assert {r["service_request_id"] for r in both} == {open_id, closed_id}
    assert closed[0]["status_notes"] == "Résolue"
    assert closed[0]["updated_datetime"] >= closed[0]["requested_datetime"]


def test_date_filters(server, api_keys):
    request_id = create(server, api_keys["kiosk"])
    now = dt.datetime.now(dt.UTC)
    url = f"{server.url}/open311/v2/requests.json"

    def ids(**params):
        r = requests.get(url, params=params, timeout=10)
        assert r.status_code == 200, r.text
        conforms("requests.json", r.json())
        return [x["service_request_id"] for x in r.json()]
    day = dt.timedelta(days=1)
    assert ids(start_date=(now - day).isoformat(), end_date=(now + day).isoformat()) == [request_id]
    assert ids(start_date=(now - day).strftime("%Y-%m-%dT%H:%M:%SZ")) == [request_id]
    assert ids(end_date=(now - day).isoformat()) == []
    assert ids(start_date=(now + day).isoformat()) == []
    assert ids(service_code="signalement") == [request_id]
    assert ids() == [request_id]  # no dates: the last 90 days


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_read_errors(server, fmt):
    url = f"{server.url}/open311/v2/requests.{fmt}"
    now = dt.datetime.now(dt.UTC)
    cases = [
        ({"start_date": "yesterday"}, 400, "start_date"),
        ({"end_date": "2026-13-45T00:00:00Z"}, 400, "end_date"),
        ({"start_date": (now - dt.timedelta(days=91)).isoformat(), "end_date": now.isoformat()}, 400, "90"),
        ({"start_date": now.isoformat(), "end_date": (now - dt.timedelta(days=1)).isoformat()}, 400, "before"),
        ({"status": "pending"}, 400, "status"),
        ({"service_code": "acte-naissance"}, 404, "acte-naissance"),
        ({"service_request_id": ",".join(["X"] * 101)}, 400, "service_request_id"),
    ]
    for params, status, words in cases:
        described = errors_of(requests.get(url, params=params, timeout=10), fmt, status)
        assert words in " ".join(described), (params, described)
    missing = requests.get(f"{server.url}/open311/v2/requests/01M89D71XD2NT4TH61H1WVXC2N.{fmt}", timeout=10)
    errors_of(missing, fmt, 404)
    token = requests.get(f"{server.url}/open311/v2/tokens/nope.{fmt}", timeout=10)
    errors_of(token, fmt, 404)


def test_cases_of_other_services_are_not_open311(server):
    import random

    from hub.demo import sample_fields
    with Terminal.open(server.home) as t:
        desk = t.session(Principal.agent("agent"))
        citizen = desk.citizens.register(first_name="Jean", last_name="Martin", birth_date="1970-01-01",
                                         address="3 rue Pasteur", postcode="49000")
        case = desk.cases.open("encombrants", citizen["id"],
                               sample_fields("encombrants", random.Random(1), citizen, dt.date.today()))
    for fmt in ("json", "xml"):
        r = requests.get(f"{server.url}/open311/v2/requests/{case['id']}.{fmt}", timeout=10)
        errors_of(r, fmt, 404)
    listed = requests.get(f"{server.url}/open311/v2/requests.json", params={"service_request_id": case["id"]},
                          timeout=10)
    assert listed.json() == []


# --- create errors: the spec's codes, nothing stored ---------------------------------

BAD = [
    ({}, 403, "API key"),
    ({"api_key": "bfk_0000000000000000_" + "A" * 43}, 403, "API key"),
    ({"api_key": "KEY", "service_code": None}, 400, "service_code"),
    ({"api_key": "KEY", "service_code": "trottinette"}, 404, "trottinette"),
    ({"api_key": "KEY", "service_code": "acte-naissance"}, 404, "acte-naissance"),
    ({"api_key": "KEY", "lat": None, "long": None}, 400, "location"),
    ({"api_key": "KEY", "lat": "91", "long": "2"}, 400, "lat"),
    ({"api_key": "KEY", "lat": "47", "long": "-181"}, 400, "long"),
    ({"api_key": "KEY", "lat": "nan", "long": "2"}, 400, "lat"),
    ({"api_key": "KEY", "lat": "47.4", "long": None}, 400, "lat and long"),
    ({"api_key": "KEY", "lat": "north", "long": "west"}, 400, "decimal degrees"),
    ({"api_key": "KEY", "attribute[category]": "licorne"}, 400, "category"),
    ({"api_key": "KEY", "attribute[category]": None}, 400, "attribute[category]"),
    ({"api_key": "KEY", "attribute[colour]": "red"}, 400, "attribute[colour]"),
    ({"api_key": "KEY", "email": "not-an-address"}, 400, "email"),
    ({"api_key": "KEY", "phone": "call me maybe"}, 400, "phone"),
    ({"api_key": "KEY", "media_url": "javascript:alert(1)"}, 400, "media_url"),
    ({"api_key": "KEY", "first_name": "x" * 201}, 400, "first_name"),
    ({"api_key": "KEY", "description": "x" * 4001}, 400, "4000"),
    ({"api_key": "KEY", "description": "x" * 1001}, 400, "description"),
    ({"api_key": "KEY", "description": None}, 400, "description"),
    ({"api_key": "KEY", "address_id": "bad id with spaces", "lat": None, "long": None}, 400, "address_id"),
    ({"api_key": "KEY", "jurisdiction_id": "paris.fr"}, 404, "paris.fr"),
]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_create_errors_store_nothing(server, api_keys, fmt):
    before = stored(server.home)
    for change, status, words in BAD:
        fields = {**GOOD, **change}
        if fields.get("api_key") == "KEY":
            fields["api_key"] = api_keys["kiosk"]
        fields = {k: v for k, v in fields.items() if v is not None}
        described = errors_of(post(server, fmt, **fields), fmt, status)
        assert words.lower() in " ".join(described).lower(), (change, described)
    # several problems at once are all reported
    many = post(server, fmt, api_key=api_keys["kiosk"], service_code="signalement", email="x", phone="?")
    assert len(errors_of(many, fmt, 400)) >= 4
    assert stored(server.home) == before


def test_huge_and_odd_bodies_are_refused(server, api_keys):
    before = stored(server.home)
    huge = {**GOOD, "api_key": api_keys["kiosk"], "description": "x" * 200_000}
    described = errors_of(post(server, **huge), "json", 400)
    assert "larger than" in described[0]
    twice = requests.post(f"{server.url}/open311/v2/requests.json", timeout=10,
                          data=[*{**GOOD, "api_key": api_keys["kiosk"]}.items(), ("service_code", "signalement")])
    assert "once" in errors_of(twice, "json", 400)[0]
    upload = requests.post(f"{server.url}/open311/v2/requests.json", timeout=10,
                           data={**GOOD, "api_key": api_keys["kiosk"]}, files={"media": ("a.jpg", b"\xff\xd8")})
    assert "file" in errors_of(upload, "json", 400)[0]
    assert stored(server.home) == before


def test_revoked_key_is_refused(server, api_keys):
    from api import keys
    create(server, api_keys["kiosk"])
    with Terminal.open(server.home) as t:
        keys.revoke(t.conn, "test-kiosk")
    before = stored(server.home)
    errors_of(post(server, api_key=api_keys["kiosk"], **GOOD), "json", 403)
    assert stored(server.home) == before


# --- the token flow (batch mode) ---------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_token_then_service_request_id(batch_server, api_keys, fmt):
    server = batch_server
    services = requests.get(f"{server.url}/open311/v2/services.json", timeout=10).json()
    assert services[0]["type"] == "batch"
    r = post(server, fmt, api_key=api_keys["agent"], **GOOD)
    assert r.status_code == 201, r.text
    if fmt == "json":
        (answer,) = r.json()
        assert "service_request_id" not in answer
        token = answer["token"]
    else:
        token = xml(r).findtext("request/token")
    assert token
    def drained() -> str | None:
        got = requests.get(f"{server.url}/open311/v2/tokens/{token}.{fmt}", timeout=10)
        assert got.status_code == 200
        if fmt == "json":
            (entry,) = got.json()
            assert entry["token"] == token
            return entry["service_request_id"]
        return xml(got).findtext("request/service_request_id")
    request_id = wait_until(drained, within=10, what="the intake to be drained", every=0.05)
    case = requests.get(f"{server.url}/open311/v2/requests/{request_id}.json", timeout=10).json()
    conforms("requests.json", case)
    assert case[0]["description"] == GOOD["description"]


def test_batch_refusals_happen_before_the_token(batch_server, api_keys):
    before = stored(batch_server.home)
    r = post(batch_server, api_key=api_keys["kiosk"], **{**GOOD, "attribute[category]": "licorne"})
    errors_of(r, "json", 400)
    with Terminal.open(batch_server.home) as t:
        assert t.conn.execute("SELECT count(*) FROM open311_intake").fetchone()[0] == 0
    assert stored(batch_server.home) == before


def test_intake_left_pending_is_filed_after_a_restart(home, api_keys):
    """A report accepted just before the server stopped is still filed: the
    intake is durable and drained at the next start."""
    from api import intake
    from hub.terminal import Terminal

    from .conftest import Running
    with Terminal.open(home) as t:
        intake.ensure(t.conn)
        with t.group():
            token = intake.accept(t, Principal.kiosk("api:test-kiosk"), "signalement",
                                  {"category": "autre", "location": {"address": "place de la Mairie"},
                                   "description": "Banc cassé"}, {})
    running = Running(home, "batch")
    try:
        def token_entry() -> dict | None:
            entry = requests.get(f"{running.url}/open311/v2/tokens/{token}.json", timeout=10).json()[0]
            return entry if entry["service_request_id"] else None
        entry = wait_until(token_entry, within=10, what="the token's request", every=0.05)
    finally:
        running.stop()
    with Terminal.open(home) as t:
        assert t.session(Principal.system()).cases.get(entry["service_request_id"])["fields"]["description"] == "Banc cassé"


# --- a real Open311 client from PyPI -------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client(server, api_keys, fmt):
    """georeport (PyPI) reads services, definitions and requests; it has no call
    to post or to read tokens, so the post is a plain form POST as the spec gives."""
    georeport = pytest.importorskip("georeport")
    client = georeport.GeoReport(f"{server.url}/open311/v2", jurisdiction="ville-de-beffroi", output_format=fmt)
    services = client.get_service_list()
    service = services if isinstance(services, dict) else services[0]  # xmltodict gives a dict for one item
    assert service["service_code"] == "signalement"
    definition = client.get_service_definition("signalement")
    assert definition["service_code"] == "signalement"
    request_id = create(server, api_keys["kiosk"])
    found = client.get_service_requests(service_request_id=request_id)
    found = found if isinstance(found, dict) else found[0]
    assert found["service_request_id"] == request_id
    one = client.get_service_request(request_id)
    assert one["service_request_id"] == request_id and one["status"] == "open"
    with pytest.raises(requests.HTTPError) as refused:
        client.get_service_definition("nope")
    assert refused.value.response.status_code == 404


def test_a_report_the_hub_refuses_at_filing_does_not_block_the_others(home, api_keys):
    """A report that passed the POST checks but is refused when filed (here: a
    category the catalog no longer has) keeps its reason behind its token, and
    the reports after it are filed."""
    from api import intake
    from hub.terminal import Terminal

    from .conftest import Running
    kiosk = Principal.kiosk("api:test-kiosk")
    with Terminal.open(home) as t:
        intake.ensure(t.conn)
        with t.group():
            stale = intake.accept(t, kiosk, "signalement", {"category": "graffiti", "location": "47.4,-0.5",
                                                            "description": "Tag"}, {})
            fine = intake.accept(t, kiosk, "signalement", {"category": "autre", "location": "47.4,-0.5",
                                                           "description": "Banc"}, {})
    running = Running(home, "batch")
    try:
        def both_answered() -> dict | None:
            got = {token: requests.get(f"{running.url}/open311/v2/tokens/{token}.json", timeout=10).json()[0]
                   for token in (stale, fine)}
            return got if got[fine]["service_request_id"] and "service_notice" in got[stale] else None
        got = wait_until(both_answered, within=10, what="both tokens answered", every=0.05)
    finally:
        running.stop()
    assert got[stale]["service_request_id"] is None and "category" in got[stale]["service_notice"]
    with Terminal.open(home) as t:
        assert t.conn.execute("SELECT count(*) FROM cases").fetchone()[0] == 1
