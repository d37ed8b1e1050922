"""Errors: the status map, the server's messages carried through, and the API key kept out."""

from __future__ import annotations

import logging
import pickle

import pytest

from components.octopus.client import OctopusClient
from components.octopus.errors import (
    OctopusAuthError,
    OctopusConflict,
    OctopusError,
    OctopusNotFound,
    OctopusUnavailable,
    error_class,
    error_for_response,
    parse_error_body,
)
from tests.octopus.conftest import Seeded, make_client
from tests.octopus_emulator import OctopusEmulator

WRONG_KEY = "API-WRONGKEY1234567890ABCDEFGH"


@pytest.mark.parametrize(
    ("status", "family"),
    [
        (400, OctopusConflict),
        (401, OctopusAuthError),
        (403, OctopusAuthError),
        (404, OctopusNotFound),
        (409, OctopusConflict),
        (429, OctopusUnavailable),
        (502, OctopusUnavailable),
        (503, OctopusUnavailable),
        (504, OctopusUnavailable),
        (500, OctopusError),
        (405, OctopusError),
    ],
)
def test_status_maps_to_one_family(status: int, family: type) -> None:
    assert error_class(status) is family
    error = error_for_response(method="GET", path="/api/x", status=status, text="")
    assert type(error) is family
    assert isinstance(error, OctopusError)


def test_error_body_forms() -> None:
    assert parse_error_body('{"ErrorMessage": "Bad", "Errors": ["a", "b"]}') == ("Bad", ["a", "b"])
    assert parse_error_body("<html><body><h1>Service Unavailable</h1></body></html>") == (
        "Service Unavailable", []
    )
    assert parse_error_body("") == ("", [])
    message, _ = parse_error_body("x" * 5000)
    assert len(message) == 200


def test_an_echoed_key_is_scrubbed() -> None:
    error = error_for_response(
        method="GET", path="/api", status=401,
        text='{"ErrorMessage": "Key API-SECRET1 is invalid", "Errors": ["API-SECRET1"]}',
        secret="API-SECRET1",
    )
    assert "API-SECRET1" not in str(error) + repr(error)


def test_missing_key_is_an_auth_error_with_the_servers_message(
    octopus_emulator: OctopusEmulator,
) -> None:
    import requests

    anonymous = requests.get(f"{octopus_emulator.url}/api/users/me", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["ErrorMessage"].startswith("You must be logged in")


def test_wrong_key_is_an_auth_error_and_the_key_is_nowhere(
    octopus_emulator: OctopusEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with OctopusClient(octopus_emulator.url, WRONG_KEY, retries=1, backoff_factor=0.01) as octopus:
        with pytest.raises(OctopusAuthError) as refused:
            octopus.current_user()
        client_repr = repr(octopus)
    error = refused.value
    assert error.status == 401
    assert "You must be logged in" in error.message
    assert (error.method, error.path) == ("GET", "/api/users/me")
    exposed = [str(error), repr(error), client_repr, caplog.text, str(pickle.loads(pickle.dumps(error)))]
    assert all(WRONG_KEY not in text for text in exposed)
    assert error.__cause__ is None


def test_a_key_without_permission_is_an_auth_error(
    octopus_emulator: OctopusEmulator, seeded: Seeded
) -> None:
    octopus_emulator.add_api_key("API-READONLY0000000000000001", read_only=True)
    with OctopusClient(octopus_emulator.url, "API-READONLY0000000000000001") as reader:
        assert reader.find_project("Phoenix Web")["Id"] == seeded.project["Id"]
        with pytest.raises(OctopusAuthError) as forbidden:
            reader.create_tenant({"Name": "ryan0001"})
    assert forbidden.value.status == 403
    assert "permission" in forbidden.value.message
    assert octopus_emulator.tenants() == []


def test_no_error_or_log_line_holds_the_key(
    octopus_emulator: OctopusEmulator, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    """Drive every failure path with logging at DEBUG; the key must never surface."""
    key = octopus_emulator.api_key
    caplog.set_level(logging.DEBUG)
    failures: list[BaseException] = []
    octopus_emulator.fail_next("GET", r"/environments$", status=503, count=10)
    octopus_emulator.fail_next("POST", r"/tenants$", drop=True, count=2)
    with make_client(octopus_emulator, retries=1) as octopus:
        for call in (
            lambda: octopus.find_environment("Feature"),
            lambda: octopus.create_tenant({"Name": "ryan0001"}),
            lambda: octopus.get_tenant("Tenants-404"),
            lambda: octopus.create_tenant({"Name": "x", "ProjectEnvironments": {"Projects-9": []}}),
        ):
            with pytest.raises(OctopusError) as caught:
                call()
            failures.append(caught.value)
    with OctopusClient("http://127.0.0.1:9", key, retries=0, timeout=(0.5, 0.5)) as nowhere:
        with pytest.raises(OctopusUnavailable) as refused:
            nowhere.root()
        failures.append(refused.value)

    assert [type(f) for f in failures] == [
        OctopusUnavailable, OctopusUnavailable, OctopusNotFound, OctopusConflict, OctopusUnavailable,
    ]
    for failure in failures:
        for linked in exception_chain(failure):
            texts = [str(linked), repr(linked), repr(vars(linked))]
            request = getattr(linked, "request", None)
            if request is not None:
                texts.append(repr(dict(request.headers)))
            assert all(key not in text for text in texts), linked
    assert key not in caplog.text
    assert "/api/Spaces-1/environments" in caplog.text  # the log is there, the key is not


def exception_chain(error: BaseException) -> list[BaseException]:
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def test_errors_survive_pickling_whole() -> None:
    error = OctopusConflict("There was a problem", method="POST", path="/api/Spaces-1/tenants",
                            status=400, errors=["duplicate"])
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is OctopusConflict
    assert (copy.method, copy.path, copy.status, copy.errors) == ("POST", "/api/Spaces-1/tenants", 400, ["duplicate"])


def test_html_maintenance_page_becomes_a_short_message(octopus_emulator: OctopusEmulator) -> None:
    octopus_emulator.fail_next("GET", r"^/api/users/me$", status=503, count=10, html=True)
    with make_client(octopus_emulator, retries=1) as octopus:
        with pytest.raises(OctopusUnavailable) as unavailable:
            octopus.current_user()
    assert unavailable.value.status == 503
    assert "Service Unavailable" in unavailable.value.message
    assert "<" not in unavailable.value.message
