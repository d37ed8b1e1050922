"""The emulator from other clients' side: request forms the Python client never sends.

Go's HTTP client streams generic JSON with `Transfer-Encoding: chunked`; the
TypeScript client leaves optional tenant fields out and works on triggers
under their project; the .NET and Go clients find routes by the root
documents' link names. Each test sends what such a client sends, raw.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Iterator

import pytest
import requests

from tests.octopus.conftest import Seeded
from tests.octopus.test_emulator import ERROR_FIELDS, Api
from tests.octopus_emulator import OctopusEmulator
from tests.octopus_emulator.documents import SPACE_LINKS

KEY_HEADER = "X-Octopus-ApiKey"


@pytest.fixture
def api(octopus_emulator: OctopusEmulator) -> Api:
    return Api(octopus_emulator)


@pytest.fixture
def connection(octopus_emulator: OctopusEmulator) -> Iterator[http.client.HTTPConnection]:
    """One kept-alive connection, as a pooled client holds it."""
    conn = http.client.HTTPConnection(octopus_emulator.host, octopus_emulator.port, timeout=5)
    yield conn
    conn.close()


def pieces(document: dict, size: int = 7) -> Iterator[bytes]:
    """A JSON body in small pieces: http.client sends each as one chunk."""
    data = json.dumps(document).encode()
    for start in range(0, len(data), size):
        yield data[start : start + size]


def exchange(conn: http.client.HTTPConnection, method: str, path: str, key: str, body=None) -> tuple[int, dict]:
    headers = {KEY_HEADER: key, "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers, encode_chunked=body is not None)
    answer = conn.getresponse()
    payload = answer.read()
    return answer.status, json.loads(payload) if payload else {}


# -- request bodies ------------------------------------------------------------------


def test_a_chunked_post_is_read_and_the_next_request_on_the_connection_is_answered(
    octopus_emulator: OctopusEmulator, connection: http.client.HTTPConnection
) -> None:
    key = octopus_emulator.api_key
    status, created = exchange(connection, "POST", "/api/Spaces-1/tenants", key, pieces({"Name": "ryan0001"}))
    assert status == 201 and created["Name"] == "ryan0001"
    sock = connection.sock
    status, listed = exchange(connection, "GET", "/api/Spaces-1/tenants", key)
    assert connection.sock is sock, "the second request went over the same connection"
    assert status == 200 and [t["Id"] for t in listed["Items"]] == [created["Id"]]
    created["Description"] = "changed in chunks"
    status, changed = exchange(connection, "PUT", f"/api/Spaces-1/tenants/{created['Id']}", key, pieces(created, 3))
    assert status == 200 and changed["Description"] == "changed in chunks"


def raw_exchange(emulator: OctopusEmulator, request: bytes) -> bytes:
    """Send bytes as they are; everything the server answers until it closes or goes quiet."""
    with socket.create_connection((emulator.host, emulator.port), timeout=2) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except socket.timeout:
            pass
    return received


def test_chunk_extensions_and_trailers_are_allowed(octopus_emulator: OctopusEmulator) -> None:
    body = b'{"Name": "ryan0002"}'
    request = (
        b"POST /api/Spaces-1/tenants HTTP/1.1\r\nHost: x\r\n"
        + f"{KEY_HEADER}: {octopus_emulator.api_key}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + f"{len(body[:5]):x};name=value\r\n".encode() + body[:5] + b"\r\n"
        + f"{len(body[5:]):X}\r\n".encode() + body[5:] + b"\r\n"
        + b"0\r\nX-Trailer: yes\r\n\r\n"
    )
    answer = raw_exchange(octopus_emulator, request)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:200]
    assert [t["Name"] for t in octopus_emulator.tenants()] == ["ryan0002"]


@pytest.mark.parametrize(
    "framing",
    [
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX\r\n0\r\n\r\n",
        b"Transfer-Encoding: gzip\r\n\r\n{}",
        b"Content-Length: ten\r\n\r\n{}",
    ],
    ids=["size-not-hex", "chunk-longer-than-its-size", "unknown-coding", "length-not-a-number"],
)
def test_a_body_with_broken_framing_is_a_400_and_the_connection_closes(
    octopus_emulator: OctopusEmulator, framing: bytes
) -> None:
    request = (
        b"POST /api/Spaces-1/tenants HTTP/1.1\r\nHost: x\r\n"
        + f"{KEY_HEADER}: {octopus_emulator.api_key}\r\n".encode() + framing
    )
    answer = raw_exchange(octopus_emulator, request)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in head
    assert json.loads(payload)["ErrorMessage"] == "The request body could not be read."
    assert octopus_emulator.tenants() == []


# -- tenants without their optional fields -------------------------------------------------


def test_a_tenant_may_leave_out_its_tags_and_projects(api: Api, seeded: Seeded) -> None:
    created = api("POST", "/api/Spaces-1/tenants", json={"Name": "ryan0001"})
    assert created.status_code == 201
    tenant = created.json()
    assert tenant["TenantTags"] == [] and tenant["ProjectEnvironments"] == {}

    tenant["ProjectEnvironments"] = {seeded.project["Id"]: [seeded.environment["Id"]]}
    connected = api("PUT", f"/api/Spaces-1/tenants/{tenant['Id']}", json=tenant).json()
    assert connected["ProjectEnvironments"] == {seeded.project["Id"]: [seeded.environment["Id"]]}

    bare = {key: value for key, value in connected.items() if key not in ("TenantTags", "ProjectEnvironments")}
    modified = api("PUT", f"/api/Spaces-1/tenants/{tenant['Id']}", json=bare)
    assert modified.status_code == 200, "a PUT may leave them out too"
    assert modified.json()["ProjectEnvironments"] == {}, "and what it leaves out is replaced by nothing"


def test_validation_errors_carry_details_by_field(api: Api) -> None:
    answer = api("POST", "/api/Spaces-1/machines", json={"Name": "m"})
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == ERROR_FIELDS
    assert body["Details"] == {
        "EnvironmentIds": "The EnvironmentIds field is required.",
        "Roles": "The Roles field is required.",
        "Endpoint": "The Endpoint field is required.",
    }
    assert set(body["Details"].values()) <= set(body["Errors"])


def test_other_errors_carry_an_empty_details_object(api: Api, octopus_emulator: OctopusEmulator) -> None:
    for answer in (
        api("GET", "/api/Spaces-1/tenants/Tenants-404"),
        requests.get(f"{octopus_emulator.url}/api/Spaces-1/tenants", timeout=5),
        api("DELETE", "/api/Spaces-1/tenants"),
    ):
        assert answer.status_code in (401, 404, 405)
        assert answer.json()["Details"] == {}


# -- triggers under their project ---------------------------------------------------------------


def test_a_trigger_is_read_modified_and_deleted_under_its_project(
    api: Api, seeded: Seeded, octopus_emulator: OctopusEmulator
) -> None:
    project_id = seeded.project["Id"]
    trigger = octopus_emulator.seed_trigger("Phoenix Web", environments=["Feature"], roles=["web"])
    path = f"/api/Spaces-1/projects/{project_id}/triggers/{trigger['Id']}"
    assert api("GET", path).json()["Id"] == trigger["Id"]

    trigger["IsDisabled"] = True
    trigger["Filter"]["Roles"] = ["web", "api"]
    modified = api("PUT", path, json=trigger)
    assert modified.status_code == 200
    assert modified.json()["IsDisabled"] is True and modified.json()["Filter"]["Roles"] == ["web", "api"]
    assert api("GET", f"/api/Spaces-1/projecttriggers/{trigger['Id']}").json()["IsDisabled"] is True

    trigger["Filter"]["EventGroups"] = ["Nope"]
    refused = api("PUT", path, json=trigger)
    assert refused.status_code == 400 and "'Nope' is not an event group." in refused.json()["Errors"]

    deleted = api("DELETE", path)
    assert deleted.status_code == 200 and deleted.json() == {}
    assert api("GET", path).status_code == 404
    assert api("GET", f"/api/Spaces-1/projects/{project_id}/triggers").json()["TotalResults"] == 0


def test_a_trigger_of_another_project_is_not_found_under_this_one(
    api: Api, seeded: Seeded, octopus_emulator: OctopusEmulator
) -> None:
    other = octopus_emulator.seed_project("Other")
    trigger = octopus_emulator.seed_trigger("Other")
    for method in ("GET", "PUT", "DELETE"):
        answer = api(method, f"/api/Spaces-1/projects/{seeded.project['Id']}/triggers/{trigger['Id']}",
                     json=trigger if method == "PUT" else None)
        assert answer.status_code == 404, method
    assert api("GET", f"/api/Spaces-1/projects/{other['Id']}/triggers/{trigger['Id']}").status_code == 200
    assert api("PATCH", f"/api/Spaces-1/projects/{other['Id']}/triggers/{trigger['Id']}").status_code == 405


# -- links, slugs, order --------------------------------------------------------------------------


def test_every_space_link_of_the_root_is_on_the_space_root_too(api: Api) -> None:
    root = api("GET", "/api").json()["Links"]
    space = api("GET", "/api/Spaces-1").json()["Links"]
    assert root["MachinePolicyTemplate"] == "/api/Spaces-1/machinepolicies/template"
    assert space["MachinePolicyTemplate"] == "/api/Spaces-1/machinepolicies/template"
    for name in SPACE_LINKS:
        assert root[name].startswith("/api/Spaces-1/"), name
        assert space[name].startswith("/api/Spaces-1/"), name
    assert space["Self"] == "/api/Spaces-1" and root["Self"] == "/api"
    for global_link in ("Spaces", "CurrentUser", "SpaceHome", "Users"):
        assert global_link in root and global_link not in space


def test_links_a_client_navigates_by_lead_to_answers(api: Api, seeded: Seeded) -> None:
    space = api("GET", "/api/Spaces-1").json()["Links"]

    def expand(template: str, **values: str) -> str:
        path = template.split("{?", 1)[0]
        for name, value in values.items():
            path = path.replace("{/" + name + "}", f"/{value}")
        return path.replace("{/id}", "")

    assert api("GET", space["MachinePolicyTemplate"]).json()["MachineCleanupPolicy"]
    assert api("GET", expand(space["Projects"], id=seeded.project["Id"])).json()["Name"] == "Phoenix Web"
    for name in ("Tenants", "Environments", "Machines", "MachinePolicies", "ProjectTriggers", "Releases",
                 "Deployments", "Tasks", "TenantVariables"):
        assert api("GET", expand(space[name])).status_code == 200, name
    project = api("GET", f"/api/Spaces-1/projects/{seeded.project['Id']}").json()
    release = api("GET", project["Links"]["Releases"].replace("{/version}", "/1.0.0-ryan0001").split("{?")[0])
    assert release.json()["Id"] == seeded.release["Id"]


def test_a_project_is_found_by_its_slug_as_by_its_id(api: Api, seeded: Seeded, octopus_emulator: OctopusEmulator) -> None:
    by_slug = api("GET", "/api/Spaces-1/projects/phoenix-web")
    assert by_slug.status_code == 200 and by_slug.json()["Id"] == seeded.project["Id"]
    project = by_slug.json()
    project["Description"] = "changed by slug"
    assert api("PUT", "/api/Spaces-1/projects/phoenix-web", json=project).json()["Id"] == seeded.project["Id"]
    assert octopus_emulator.project("Phoenix Web")["Description"] == "changed by slug"
    release = api("GET", "/api/Spaces-1/projects/phoenix-web/releases/1.0.0-ryan0001")
    assert release.status_code == 200 and release.json()["ProjectId"] == seeded.project["Id"]
    assert api("GET", "/api/Spaces-1/projects/no-such-slug").status_code == 404


def test_spaces_are_listed_by_name(api: Api, octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.seed_space("Alpha")
    octopus_emulator.seed_space("zeta")
    octopus_emulator.seed_space("Beta")
    listed = [s["Name"] for s in api("GET", "/api/spaces").json()["Items"]]
    assert listed == ["Alpha", "Beta", "Default", "zeta"]
    assert [s["Name"] for s in api("GET", "/api/spaces/all").json()] == listed
