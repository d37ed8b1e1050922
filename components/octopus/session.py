"""The transport to one Octopus server: API-key header, retries, timeouts, error mapping.

Resource operations live in `client.py`; this module knows only HTTP. Retries
are urllib3's, not a hand-written loop: connection errors, and 429/502/503/504
on idempotent methods, with exponential backoff and `Retry-After` honoured up
to a cap, so the worst case is bounded by `retries` x (timeout + backoff cap).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Optional

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from components.octopus.errors import (
    RETRYABLE_STATUSES,
    OctopusError,
    OctopusUnavailable,
    error_for_response,
)

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-Octopus-ApiKey"

#: Methods urllib3 may repeat. POST is absent: a repeated create can make a
#: duplicate, so creates recover by looking the resource up (see client.py).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

#: Longest single sleep: neither backoff nor a server's Retry-After may stall a run.
BACKOFF_MAX_SECONDS = 10.0
RETRY_AFTER_MAX_SECONDS = 30


def retry_policy(retries: int, backoff_factor: float) -> Retry:
    """The retry rules every request gets; a pure function so tests can inspect it."""
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=RETRYABLE_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=BACKOFF_MAX_SECONDS,
        backoff_jitter=backoff_factor,
        respect_retry_after_header=True,
        retry_after_max=RETRY_AFTER_MAX_SECONDS,
        # Hand the last 5xx back instead of raising, so its Octopus error body
        # becomes the message of the error we raise.
        raise_on_status=False,
    )


class OctopusSession:
    """Authenticated HTTP to one server. Holds the key, so it refuses to be pickled."""

    def __init__(
        self,
        server_url: str,
        api_key: str,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        retries: int = 4,
        backoff_factor: float = 0.25,
    ) -> None:
        if not server_url or not server_url.startswith(("http://", "https://")):
            raise ValueError(f"the Octopus server URL must be http(s)://..., got {server_url!r}")
        if not api_key:
            raise ValueError("an Octopus API key is required")
        self.server_url = server_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._http = requests.Session()
        self._http.headers.update(
            {
                API_KEY_HEADER: api_key,
                "Accept": "application/json",
                "User-Agent": "phoenix-octopus-client",
            }
        )
        adapter = HTTPAdapter(max_retries=retry_policy(retries, backoff_factor))
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        # Same auth, no retries: for a write whose body must be rebuilt from a fresh
        # read before it is sent again (a whole-project PUT), the caller retries.
        self._once = requests.Session()
        self._once.headers.update(self._http.headers)

    def __repr__(self) -> str:
        return f"OctopusSession(server_url={self.server_url!r})"

    def __reduce__(self):
        raise TypeError(
            "an Octopus session holds an API key and a connection pool and is never "
            "pickled; build it where it is used"
        )

    def close(self) -> None:
        self._http.close()
        self._once.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        retry: bool = True,
    ) -> Any:
        """Send one request; the parsed JSON (None for an empty body) or an OctopusError.

        `retry=False` sends it once: a failure is the caller's to repeat.
        """
        started = time.monotonic()
        failure = None
        try:
            response = (self._http if retry else self._once).request(
                method,
                self.server_url + path,
                params=params,
                json=body,
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            # Keep only the text: the exception's request object carries the
            # key header, so it must not become the new error's __context__.
            failure = f"no response from the Octopus server: {type(exc).__name__}: {exc}"
        if failure is not None:
            log.debug("%s %s -> no response (%.0f ms)", method, path, _ms(started))
            raise OctopusUnavailable(
                failure.replace(self._api_key, "***"), method=method, path=path
            )
        log.debug("%s %s -> %s (%.0f ms)", method, path, response.status_code, _ms(started))
        if response.status_code >= 400:
            raise error_for_response(
                method=method,
                path=path,
                status=response.status_code,
                text=response.text,
                secret=self._api_key,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise OctopusError(
                "the Octopus server answered with a body that is not JSON",
                method=method,
                path=path,
                status=response.status_code,
            ) from None


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
