"""schemathesis against the SoR, every request signed by an enrolled test
device: whatever is generated, no answer is a server error or leaves the
document (replication/openapi.py)."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from replication import auth
from replication.blobs import FileStore
from replication.index import init_city
from replication.keys import device_keys
from replication.openapi import document

from .conftest import City, ThreadSoR

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]
EXAMPLES = 25  # per operation


class Signed(requests.auth.AuthBase):
    """Signs the request exactly as it goes out (path, query and body)."""

    def __init__(self, key_id: str, signer) -> None:
        self.key_id, self.signer = key_id, signer

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        body = prepared.body or b""
        body = body.encode() if isinstance(body, str) else body
        prepared.headers.update(auth.sign_headers(self.key_id, self.signer, prepared.method, prepared.path_url, body))
        return prepared


@pytest.fixture(scope="module")
def signed_sor(tmp_path_factory):
    root = tmp_path_factory.mktemp("sor-openapi")
    home = root / "sor"
    init_city(home, "Ville de Test", shares=3, threshold=2)
    server = ThreadSoR(home, FileStore(home / "blobs"))
    city = City(root, server.url, home)
    t1 = city.terminal("T1")
    session = requests.Session()
    session.auth = Signed(t1.id, device_keys(t1.home).sign)
    yield city, session
    session.close()
    city.close()
    server.stop()


@pytest.fixture(scope="module")
def sor_schema():
    return schemathesis.openapi.from_dict(document())


schema = schemathesis.pytest.from_fixture("sor_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_sor_route_keeps_its_document(case, signed_sor):
    city, session = signed_sor
    case.call_and_validate(base_url=city.url, session=session, checks=CHECKS)


def test_the_document_covers_every_sor_route(signed_sor):
    from replication.sor import INDEX, make_app
    city, _ = signed_sor
    app = make_app(city.sor_home, FileStore(city.sor_home / "blobs"))
    served = {(r.resource.canonical, r.method) for r in app.router.routes() if r.method != "HEAD"}
    app[INDEX].close()
    documented = {(path, method.upper()) for path, item in document()["paths"].items() for method in item}
    assert served == documented
