"""The HTTP side of the emulator: routes, authentication, faults, the request log.

A stdlib threading HTTP/1.1 server (keep-alive, as `requests` pools
connections). Request bodies arrive by `Content-Length` or chunked
(`Transfer-Encoding: chunked`, how Go's HTTP client streams JSON): RFC 9112
makes both mandatory for a server, and a body left unread would be taken for
the next request on the kept-alive connection. Space-scoped routes are
accepted in all three forms the server knows: `/api/Spaces-1/…`,
`/api/spaces/{id-or-slug}/…` and `/api/…` for the default space.
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
    VALIDATION_MESSAGE,
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
from tests.octopus_emulator.variables import feature_toggles_document, require_project_variables

if TYPE_CHECKING:
    from tests.octopus_emulator.emulator import OctopusEmulator

_SPACE_ID = re.compile(r"^Spaces-\d+$", re.IGNORECASE)
_FAULT_MESSAGES = {
    400: VALIDATION_MESSAGE,
    409: "The resource was changed by another request. Please reload it and try again.",
    429: "You have exceeded the request rate limit. Please try again later.",
    500: "An unexpected error occurred on the Octopus server.",
    502: "Bad gateway.",
    503: MAINTENANCE_MESSAGE,
    504: "The gateway timed out waiting for the Octopus server.",
}

Reply = tuple[int, Any, dict[str, str]]

_TENANT_VARIABLE_ROUTES = ("variables", "projectvariables", "commonvariables")

#: Longest chunk-size or trailer line read (as http.server bounds header lines).
_MAX_LINE = 65536


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
        if rest == ["configuration", "feature-toggles"]:
            self._allow(method, "GET")
            return _ok(feature_toggles_document(self.emulator.feature_toggles, params.get("Name")))
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
        if rest == ["tenantvariables", "all"]:
            self._allow(method, "GET")
            return _ok(state.all_tenant_variables(space_id, params.get("projectId")))
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
        owner_kind, child = rest[0], rest[2]
        if owner_kind == "tenants" and child in _TENANT_VARIABLE_ROUTES and len(rest) == 3:
            return self._tenant_variables(method, space_id, rest[1], child, params, body)
        owner = state.get(space_id, owner_kind, rest[1])
        owner_id = owner["Id"]
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
            if (owner_kind, child) == ("projects", "triggers"):
                return self._project_trigger(method, space_id, owner, rest[3], body, user)
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

    def _tenant_variables(
        self, method: str, space_id: str, tenant_id: str, route: str, params: dict, body: Any
    ) -> Reply:
        """A tenant's variables: the whole document, or the per-project and common lists."""
        self._allow(method, "GET, PUT, POST")
        state = self.state
        include_missing = params.get("includeMissingVariables", "").lower() == "true"
        if route == "variables":
            if method == "GET":
                return _ok(state.tenant_variables(space_id, tenant_id))
            return _ok(state.set_tenant_variables(space_id, tenant_id, body))
        require_project_variables(self.emulator.feature_toggles)
        if route == "projectvariables":
            if method == "GET":
                return _ok(state.project_variables(space_id, tenant_id, include_missing))
            return _ok(state.set_project_variables(space_id, tenant_id, body))
        if method == "GET":
            return _ok(state.common_variables(space_id, tenant_id, include_missing))
        return _ok(state.set_common_variables(space_id, tenant_id, body))

    def _project_trigger(
        self, method: str, space_id: str, project: dict, ident: str, body: Any, user
    ) -> Reply:
        """`…/projects/{id}/triggers/{triggerId}`: the official clients read, modify and delete here."""
        self._allow(method, "GET, PUT, DELETE")
        trigger = self._child(space_id, "projects", project, "triggers", ident)
        if method == "GET":
            return _ok(trigger)
        if method == "PUT":
            if isinstance(body, dict):  # anything else is the state's to refuse
                body = {**body, "ProjectId": project["Id"]}
            return _ok(self.state.modify(space_id, "projecttriggers", trigger["Id"], body, user))
        self.state.delete(space_id, "projecttriggers", trigger["Id"])
        return _ok({})

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
        try:
            raw = self._read_body()
        except ValueError as error:
            # The framing is broken, so where the next request starts is unknown: answer, then close.
            self.close_connection = True
            emulator.log.append(LoggedRequest(method, path, 400, split.query))
            body = json.dumps(error_body("The request body could not be read.", [str(error)]))
            self._send(400, body.encode("utf-8"), "application/json; charset=utf-8", {"Connection": "close"})
            return
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

    def _read_body(self) -> bytes:
        """The whole body, framed by chunked transfer coding or Content-Length (RFC 9112 §6)."""
        codings = [part.strip().lower() for part in (self.headers.get("Transfer-Encoding") or "").split(",")]
        if codings[-1] == "chunked":
            return self._read_chunked()
        if codings != [""]:
            raise ValueError(f"unsupported Transfer-Encoding {self.headers['Transfer-Encoding']!r}")
        text = self.headers.get("Content-Length") or "0"
        if not text.strip().isdigit():
            raise ValueError(f"invalid Content-Length {text!r}")
        length = int(text)
        raw = self.rfile.read(length) if length else b""
        if len(raw) != length:
            raise ValueError("the body ended before Content-Length bytes arrived")
        return raw

    def _read_chunked(self) -> bytes:
        """Chunks until the zero-size one, then the trailer section up to its blank line."""
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            if len(line) > _MAX_LINE or not line.endswith(b"\n"):
                raise ValueError("a chunk size line is missing or too long")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ValueError(f"{size_text!r} is not a chunk size") from None
            if size < 0:
                raise ValueError("a chunk size is negative")
            if size == 0:
                break
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(_MAX_LINE + 1).strip() != b"":
                raise ValueError("a chunk is shorter than its size or lacks its CRLF")
            chunks.append(chunk)
        while True:
            trailer = self.rfile.readline(_MAX_LINE + 1)
            if not trailer.endswith(b"\n"):
                raise ValueError("the chunked body ended without its final CRLF")
            if trailer.strip() == b"":
                return b"".join(chunks)

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
        body = json.dumps(error_body(message, fault.errors)).encode("utf-8")
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
