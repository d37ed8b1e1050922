"""The HTTP server the test stand-ins share: threaded, kept-alive connections tracked so a stop closes them.

The Octopus emulator and the S3 fault proxy subclass these two classes and add
only what they answer.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class TrackedHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (clients pool connections), no Nagle delay, no access log."""

    protocol_version = "HTTP/1.1"
    server: "TrackingServer"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every kept-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the stand-in's request log is the record."""


class TrackingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: Parallel clients connect at once; the default backlog of 5 drops SYNs.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[TrackedHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_all(self) -> None:
        """Close kept-alive connections too, so a stopped server answers nobody."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
