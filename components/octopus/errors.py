"""The one exception tree for Octopus REST failures, and the one status-to-error map.

Errors carry what a reader needs to act (method, path, status, the server's
`ErrorMessage` and `Errors`) and nothing that authenticates: they are raised
from data already stripped of the API key, never from a `requests` exception,
whose request object would still hold the key header.
"""

from __future__ import annotations

import json
import re
from typing import Optional, Sequence

#: Bodies that are not Octopus' JSON error object (proxy or maintenance pages)
#: are reduced to this many characters of text.
_TEXT_LIMIT = 200

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


class OctopusError(Exception):
    """A failed Octopus REST call. `status` is None when no response arrived."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: Optional[int] = None,
        errors: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.errors = list(errors)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f" -> {self.status}" if self.status is not None else ""
        detail = "; ".join(self.errors)
        text = f"{self.message} ({detail})" if detail else self.message
        return f"{where}{status}: {text}" if where else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(method={self.method!r}, path={self.path!r}, "
            f"status={self.status!r}, message={self.message!r}, errors={self.errors!r})"
        )

    def __reduce__(self):
        # Keyword-only fields would be lost by Exception's default pickling.
        return (
            _rebuild,
            (type(self), self.message, self.method, self.path, self.status, self.errors),
        )


def _rebuild(cls, message, method, path, status, errors):
    return cls(message, method=method, path=path, status=status, errors=errors)


class OctopusAuthError(OctopusError):
    """401 (no or wrong API key) or 403 (the key's user lacks a permission)."""


class OctopusNotFound(OctopusError):
    """404, or a look-up by name that found nothing."""


class OctopusConflict(OctopusError):
    """400 validation failure (a duplicate name among them) or 409."""


class OctopusUnavailable(OctopusError):
    """The server could not be reached or stayed unavailable after retries."""


#: Statuses the transport retries on idempotent methods before giving up.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})

_BY_STATUS: dict[int, type[OctopusError]] = {
    400: OctopusConflict,
    401: OctopusAuthError,
    403: OctopusAuthError,
    404: OctopusNotFound,
    409: OctopusConflict,
    **{status: OctopusUnavailable for status in RETRYABLE_STATUSES},
}


def error_class(status: int) -> type[OctopusError]:
    """The exception family for an HTTP status; anything unlisted is the root."""
    return _BY_STATUS.get(status, OctopusError)


def parse_error_body(text: str) -> tuple[str, list[str]]:
    """`(ErrorMessage, Errors)` from a response body that may be JSON, HTML or empty."""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and ("ErrorMessage" in body or "Errors" in body):
        errors = body.get("Errors") or []
        if not isinstance(errors, list):
            errors = [errors]
        return str(body.get("ErrorMessage") or ""), [str(error) for error in errors]
    plain = _SPACE.sub(" ", _TAGS.sub(" ", text or "")).strip()
    return plain[:_TEXT_LIMIT], []


def error_for_response(
    *, method: str, path: str, status: int, text: str, secret: str = ""
) -> OctopusError:
    """The error for a non-2xx response; `secret` is scrubbed should the server echo it."""
    message, errors = parse_error_body(text)
    if secret:
        message = message.replace(secret, "***")
        errors = [error.replace(secret, "***") for error in errors]
    return error_class(status)(
        message or f"HTTP {status}", method=method, path=path, status=status, errors=errors
    )
