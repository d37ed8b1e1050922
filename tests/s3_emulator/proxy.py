"""A fault-injecting HTTP proxy between S3 clients and the S3 emulator, on 127.0.0.1.

Every request is forwarded byte for byte (headers included, so SigV4
signatures still verify upstream) unless the fault plan says otherwise; the
plan is the Octopus emulator's (`FaultPlan` for scripted faults,
`bench.faults.RandomFaults` for a seeded share of them), matched on the
method and the object key. What a fault does, as S3 and networks do it:

- a status (500, 503) answered with S3's error document (`InternalError`,
  `SlowDown`: the codes of the S3 API reference's "Error responses") and
  the request never reaches the store;
- `drop`: the connection closed without an answer, before the store saw the
  request, or, `processed`, after it acted (only the answer is lost);
- latency: `RandomFaults` sleeps before each request; `slow_seconds` delays
  every answer.

Bounded: at most `max_connections` requests in flight (others wait), bodies
up to `max_body` bytes, and an upstream timeout. A request log records
(method, key, status), status 0 for a dropped connection.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
import uuid
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

from tests.loopback_http import TrackedHandler, TrackingServer
from tests.octopus_emulator.faults import Fault, FaultPlan, LoggedRequest, RequestLog

#: S3's error codes for the statuses the proxy injects.
S3_ERRORS = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"}


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        plan: Optional[FaultPlan] = None,
        max_connections: int = 32,
        max_body: int = 64 * 1024 * 1024,
        upstream_timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults = plan or FaultPlan()
        self.log = RequestLog()
        self.slow_seconds = 0.0
        self.max_body = max_body
        self.upstream_timeout = upstream_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FaultProxy":
        self._server = _Server(("127.0.0.1", 0), self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="s3-fault-proxy")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_all()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def fail_next(self, method: str, key_regex: str, *, status: int = 503, count: int = 1,
                  drop: bool = False, processed: bool = False) -> None:
        """The next `count` requests for keys matching `key_regex` fail this way."""
        import re

        self.faults.add(Fault(method=method, pattern=re.compile(key_regex), status=status, remaining=count,
                              drop=drop, processed=processed))

    def count(self, method: str = "*", key_regex: str = "", status: Optional[int] = None) -> int:
        import re

        pattern = re.compile(key_regex)
        return sum(1 for r in self.log.records()
                   if method in ("*", r.method) and pattern.search(r.path) and status in (None, r.status))

    # -- one request -------------------------------------------------------------

    def forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=self.upstream_timeout)
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    connection.putheader(name, value)
            if body or method in ("PUT", "POST"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()


class _Handler(TrackedHandler):
    server: "_Server"

    def do_GET(self) -> None:
        self._relay("GET")

    def do_HEAD(self) -> None:
        self._relay("HEAD")

    def do_PUT(self) -> None:
        self._relay("PUT")

    def do_POST(self) -> None:
        self._relay("POST")

    def do_DELETE(self) -> None:
        self._relay("DELETE")

    def _body(self) -> Optional[bytes]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length > self.server.proxy.max_body:
                return None
            body = self.rfile.read(length) if length else b""
        return body if len(body) <= self.server.proxy.max_body else None

    def _relay(self, method: str) -> None:
        proxy = self.server.proxy
        key = unquote(urlsplit(self.path).path)
        body = self._body()
        if body is None:
            self.close_connection = True
            self._send(413, [], b"")
            return
        with proxy._slots:
            fault: Optional[Fault] = proxy.faults.take(method, key)
            answer = None
            if fault is None or fault.processed:
                try:
                    answer = proxy.forward(method, self.path, self.headers.items(), body)
                except OSError:
                    answer = None  # the store is unreachable: the client sees a dropped connection
            if proxy.slow_seconds:
                time.sleep(proxy.slow_seconds)
        if (fault is not None and fault.drop) or (fault is None and answer is None):
            proxy.log.append(LoggedRequest(method, key, 0))
            self._drop()
        elif fault is not None:
            proxy.log.append(LoggedRequest(method, key, fault.status))
            self._send(fault.status, [("Content-Type", "application/xml")], error_document(fault.status, key))
        else:
            status, headers, payload = answer
            proxy.log.append(LoggedRequest(method, key, status))
            self._send(status, headers, payload)

    def _drop(self) -> None:
        """Close with a reset, as a load balancer or a dying server does."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """The answer; a HEAD keeps the store's Content-Length (the object's size) and sends no body."""
        self.send_response_only(status)
        length = str(len(body))
        for name, value in headers:
            if name.lower() == "content-length":
                length = value if self.command == "HEAD" else length
            elif name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


def error_document(status: int, key: str) -> bytes:
    """S3's XML error body for an injected status."""
    code, message = S3_ERRORS.get(status, ("InternalError", "We encountered an internal error. Please try again."))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><Resource>{key}</Resource>"
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    ).encode()


class _Server(TrackingServer):
    def __init__(self, address: tuple[str, int], proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (the SDK gave up on a slow answer) is no error of the proxy's."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)
