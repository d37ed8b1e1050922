"""The HTTP side of the emulator: routes, authentication, faults, the request log.

A stdlib threading HTTP/1.1 server (keep-alive, as `requests` pools
connections). Space-scoped routes are accepted in all three forms the server
knows: `/api/Spaces-1/…`, `/api/spaces/{id-or-slug}/…` and `/api/…` for the
default space.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.octopus_emulator.documents import (
    FORBIDDEN_MESSAGE,
    KINDS,
    MAINTENANCE_HTML,
    MAINTENANCE_MESSAGE,
    UNAUTHENTICATED_MESSAGE,
    ApiError,
    collection_page,
    error_body,
    machine_policy_template,
    not_found,
    root_document,
    space_root_document,
    validation_error,
)
from tests.loopback_http import TrackedHandler, TrackingServer
from tests.octopus_emulator.faults import Fault, LoggedRequest

if TYPE_CHECKING:
    from tests.octopus_emulator.emulator import OctopusEmulator

_SPACE_ID = re.compile(r"^Spaces-\d+$", re.IGNORECASE)
_FAULT_MESSAGES = {
    429: "You have exceeded the request rate limit. Please try again later.",
    500: "An unexpected error occurred on the Octopus server.",
    502: "Bad gateway.",
    503: MAINTENANCE_MESSAGE,
    504: "The gateway timed out waiting for the Octopus server.",
}

Reply = tuple[int, Any, dict[str, str]]


def _ok(payload: Any, status: int = 200) -> Reply:
    return status, payload, {}


def _method_not_allowed(allowed: str) -> ApiError:
    error = ApiError(405, "The requested HTTP method is not allowed for this resource.")
    error.allow = allowed  # type: ignore[attr-defined]
    return error


class Router:
    """Maps a request to the state: authentication first, then the route."""

    def __init__(self, emulator: "OctopusEmulator") -> None:
        self.emulator = emulator
        self.state = emulator.state

    def dispatch(
        self, method: str, path: str, params: dict[str, str], raw: bytes, api_key: Optional[str]
    ) -> Reply:
        try:
            segments = [unquote(part) for part in path.strip("/").split("/") if part]
            if segments[:1] != ["api"]:
                raise ApiError(404, "The resource you requested was not found.")
            user = self._authenticate(method, segments[1:], api_key)
            body = self._body(method, raw)
            return self._route(method, segments[1:], params, body, user)
        except ApiError as error:
            headers = {"Allow": error.allow} if hasattr(error, "allow") else {}
            return error.status, error.body(), headers
        except Exception:  # an emulator bug: answer as the server does, with the trace
            body = error_body("An unexpected error occurred on the Octopus server.")
            body["FullException"] = traceback.format_exc()
            return 500, body, {}

    def _authenticate(self, method: str, rest: list[str], api_key: Optional[str]) -> Optional[dict]:
        if not rest and method == "GET" and not api_key and self.emulator.allow_anonymous_root:
            return None
        user = self.state.user_for_key(api_key)
        if user is None:
            raise ApiError(401, UNAUTHENTICATED_MESSAGE)
        if method != "GET" and api_key in self.state.read_only_keys:
            raise ApiError(403, FORBIDDEN_MESSAGE)
        return user

    @staticmethod
    def _body(method: str, raw: bytes) -> Any:
        if method not in ("POST", "PUT"):
            return None
        try:
            return json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            raise validation_error(["The request body could not be parsed as JSON."]) from None

    def _route(self, method: str, rest: list[str], params: dict, body: Any, user) -> Reply:
        state = self.state
        if not rest:
            self._allow(method, "GET")
            return _ok(root_document(self._default_space_or_none(), state.installation_id))
        if rest == ["users", "me"]:
            self._allow(method, "GET")
            return _ok(user)
        if len(rest) == 3 and rest[0] == "users" and rest[2] == "permissions":
            self._allow(method, "GET")
            return _ok(state.user_permissions(rest[1], user))
        if rest[0] == "spaces":
            if len(rest) == 1:
                self._allow(method, "GET")
                return _ok(self._page(state.list_spaces(params), params, "/api/spaces", "Space",
                                      "{?skip,ids,take,partialName}"))
            if rest[1:] == ["all"]:
                self._allow(method, "GET")
                return _ok(state.list_spaces(params))
            space = state.find_space(rest[1])
            if len(rest) == 2:
                self._allow(method, "GET")
                return _ok(space)
            return self._scoped(method, space["Id"], rest[2:], params, body, user)
        if rest[0] == "tasks" and len(rest) == 2:
            self._allow(method, "GET")
            return _ok(state.find_task(rest[1]))
        if _SPACE_ID.match(rest[0]):
            space = state.find_space(rest[0])
            return self._scoped(method, space["Id"], rest[1:], params, body, user)
        return self._scoped(method, state.default_space_id(), rest, params, body, user)

    def _scoped(self, method: str, space_id: str, rest: list[str], params: dict, body: Any, user) -> Reply:
        state = self.state
        if not rest:
            self._allow(method, "GET")
            return _ok(space_root_document(state.find_space(space_id)))
        kind = KINDS.get(rest[0])
        if kind is None:
            raise ApiError(404, "The resource you requested was not found.")
        base = f"/api/{space_id}/{kind.collection}"
        if len(rest) == 1:
            if method == "GET":
                return _ok(self._page(state.query(space_id, kind.collection, params), params,
                                      base, kind.item_type, kind.template))
            self._allow(method, "GET" if kind.read_only else "GET, POST")
            return _ok(state.create(space_id, kind.collection, body, user), 201)
        if len(rest) == 2:
            ident = rest[1]
            if ident == "all":
                self._allow(method, "GET")
                return _ok(state.query(space_id, kind.collection, params))
            if kind.collection == "machinepolicies" and ident == "template":
                self._allow(method, "GET")
                return _ok(machine_policy_template(space_id))
            if method == "GET":
                return _ok(state.get(space_id, kind.collection, ident))
            self._allow(method, "GET" if kind.read_only else "GET, PUT, DELETE")
            if method == "PUT":
                return _ok(state.modify(space_id, kind.collection, ident, body, user))
            state.delete(space_id, kind.collection, ident)
            return _ok({} if kind.collection == "projecttriggers" else None)
        return self._nested(method, space_id, rest, params, body, user)

    def _nested(self, method: str, space_id: str, rest: list[str], params: dict, body: Any, user) -> Reply:
        """Collections under one resource: a project's releases and triggers, and so on."""
        state = self.state
        owner_kind, owner_id, child = rest[0], rest[1], rest[2]
        owner = state.get(space_id, owner_kind, owner_id)
        routes = {
            ("projects", "releases"): ("releases", {"ProjectId": owner_id}),
            ("projects", "triggers"): ("projecttriggers", {"ProjectId": owner_id}),
            ("environments", "machines"): ("machines", None),
            ("machinepolicies", "machines"): ("machines", {"MachinePolicyId": owner_id}),
            ("releases", "deployments"): ("deployments", {"ReleaseId": owner_id}),
        }
        if (owner_kind, child) not in routes:
            raise ApiError(404, "The resource you requested was not found.")
        kind_name, where = routes[(owner_kind, child)]
        kind = KINDS[kind_name]
        if owner_kind == "environments":
            params = {**params, "environmentIds": owner["Id"]}
        if len(rest) == 4:
            self._allow(method, "GET")
            return _ok(self._child(space_id, owner_kind, owner, child, rest[3]))
        if len(rest) != 3:
            raise ApiError(404, "The resource you requested was not found.")
        if method == "POST" and (owner_kind, child) == ("projects", "triggers"):
            return _ok(state.create(space_id, kind_name, {**(body or {}), "ProjectId": owner_id}, user), 201)
        self._allow(method, "GET, POST" if child == "triggers" else "GET")
        items = state.query(space_id, kind_name, params, where=where)
        base = f"/api/{space_id}/{owner_kind}/{owner_id}/{child}"
        return _ok(self._page(items, params, base, kind.item_type, kind.template))

    def _child(self, space_id: str, owner_kind: str, owner: dict, child: str, ident: str) -> dict:
        if (owner_kind, child) == ("projects", "releases"):
            for release in self.state.query(space_id, "releases", {}, where={"ProjectId": owner["Id"]}):
                if release["Version"] == ident or release["Id"] == ident:
                    return release
            raise not_found(ident)
        if (owner_kind, child) == ("projects", "triggers"):
            trigger = self.state.get(space_id, "projecttriggers", ident)
            if trigger["ProjectId"] != owner["Id"]:
                raise not_found(ident)
            return trigger
        raise ApiError(404, "The resource you requested was not found.")

    def _default_space_or_none(self) -> Optional[str]:
        try:
            return self.state.default_space_id()
        except ApiError:
            return None

    @staticmethod
    def _page(items: list, params: dict, base: str, item_type: str, template: str) -> dict:
        return collection_page(items, params=params, base=base, item_type=item_type, template=template)

    @staticmethod
    def _allow(method: str, allowed: str) -> None:
        if method not in [part.strip() for part in allowed.split(",")]:
            raise _method_not_allowed(allowed)


class _Handler(TrackedHandler):
    server_version = "OctopusEmulator/1"
    server: "_Server"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        emulator = self.server.emulator
        split = urlsplit(self.path)
        path = split.path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        query = parse_qs(split.query, keep_blank_values=True)
        key_params = [name for name in query if name.lower() == "apikey"]
        api_key = self.headers.get("X-Octopus-ApiKey")
        for name in key_params:
            api_key = api_key or query[name][-1]
            del query[name]
        params = {name: values[-1] for name, values in query.items()}
        logged_query = urlencode(query, doseq=True)

        if emulator.latency:
            time.sleep(emulator.latency)
        fault = emulator.faults.take(method, path)
        if fault is None or fault.processed:
            status, payload, headers = emulator.router.dispatch(method, path, params, raw, api_key)
            for hook in emulator.faults.take_hooks(method, path):
                hook.action()
        if fault is not None:
            self._fail(fault, method, path, logged_query)
            return
        emulator.log.append(LoggedRequest(method, path, status, logged_query))
        body = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _fail(self, fault: Fault, method: str, path: str, query: str) -> None:
        emulator = self.server.emulator
        if fault.drop:
            emulator.log.append(LoggedRequest(method, path, 0, query))
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        emulator.log.append(LoggedRequest(method, path, fault.status, query))
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault.html:
            self._send(fault.status, MAINTENANCE_HTML.encode(), "text/html; charset=utf-8", headers)
            return
        message = _FAULT_MESSAGES.get(fault.status, "The request failed.")
        body = json.dumps(error_body(message)).encode("utf-8")
        self._send(fault.status, body, "application/json; charset=utf-8", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(TrackingServer):
    def __init__(self, address: tuple[str, int], emulator: "OctopusEmulator") -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


def serve(emulator: "OctopusEmulator", host: str, port: int) -> tuple[_Server, threading.Thread]:
    server = _Server((host, port), emulator)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
        name=f"octopus-emulator-{server.server_address[1]}",
    )
    thread.start()
    return server, thread
