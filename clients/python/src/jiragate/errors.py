"""Typed exceptions mapped from jiragate's problem documents (RFC 9457).

Every error the server answers is ``application/problem+json`` with a stable ``type`` URI such
as ``https://jiragate.dev/problems/not_found``. :func:`error_from_response` turns such an answer
into the matching subclass of :class:`APIError`; anything else (a proxied Jira error, a plain
text answer from something in between) becomes a plain :class:`APIError`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

PROBLEM_BASE = "https://jiragate.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class JiragateError(Exception):
    """Base class of every exception raised by this package."""


class ConfigurationError(JiragateError):
    """The client is missing its URL or API key (argument or environment)."""


class TransportError(JiragateError):
    """The server could not be reached, or the connection failed mid-request."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.__cause__ = cause


class APIError(JiragateError):
    """The server answered with an error status.

    Attributes mirror the problem document: ``status``, ``type`` (the URI), ``kind`` (its last
    segment, e.g. ``not_found``), ``title``, ``detail``, ``field`` (for validation problems),
    ``hint`` (the server's hint, else a short client-side suggestion) and ``extensions`` (every
    other member of the document).
    """

    #: The problem kind this class stands for (``None`` for the generic class).
    kind_slug: str | None = None
    #: What to do about it, when the server sent no hint of its own.
    default_hint: str | None = None

    def __init__(
        self,
        *,
        status: int,
        type: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        extensions: dict[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: str = "",
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.extensions: dict[str, Any] = dict(extensions or {})
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body
        field = self.extensions.get("field")
        self.field: str | None = field if isinstance(field, str) and field else None
        hint = self.extensions.get("hint")
        self.hint: str | None = hint if isinstance(hint, str) and hint else self.default_hint
        super().__init__(self._message())

    @property
    def kind(self) -> str | None:
        """The last segment of ``type`` (``validation``, ``not_found``, ...)."""
        if self.type and self.type.startswith(PROBLEM_BASE):
            return self.type[len(PROBLEM_BASE) :]
        return None

    def _message(self) -> str:
        head = f"{self.status}"
        if self.kind:
            head += f" {self.kind}"
        text = self.detail or self.title or self.body[:200] or "error"
        msg = f"{head}: {text}"
        if self.hint:
            msg += f" (hint: {self.hint})"
        return msg


class InvalidRequestError(APIError):
    """``validation``: the request is not valid; ``field`` names the culprit."""

    kind_slug = "validation"


class NotFoundError(APIError):
    """``not_found``: the connector (or other object) does not exist in this organization."""

    kind_slug = "not_found"


class AuthenticationError(APIError):
    """``unauthorized``: the API key is missing, unknown or revoked."""

    kind_slug = "unauthorized"
    default_hint = "check JIRAGATE_API_KEY (or api_key=); keys are shown once when created"


class PermissionDeniedError(APIError):
    """``forbidden``: the API key lacks a scope (``required_scope``) or the organization."""

    kind_slug = "forbidden"

    @property
    def required_scope(self) -> str | None:
        v = self.extensions.get("required_scope")
        return v if isinstance(v, str) else None


class ConflictError(APIError):
    """``conflict``: the object already exists or changed meanwhile."""

    kind_slug = "conflict"


class UpstreamError(APIError):
    """``upstream_error``: Jira answered with an error (``upstream_status``, ``messages``)."""

    kind_slug = "upstream_error"

    @property
    def upstream_status(self) -> int | None:
        v = self.extensions.get("upstream_status")
        return v if isinstance(v, int) else None

    @property
    def messages(self) -> Any:
        return self.extensions.get("messages")


class NeedsReauthError(APIError):
    """``needs_reauth``: the connection's credential is dead; the user must consent again."""

    kind_slug = "needs_reauth"
    default_hint = "reconnect: start a new connect session or replace the credentials"


class MissingScopeError(APIError):
    """``missing_scope``: the connection was not granted an OAuth scope the action needs."""

    kind_slug = "missing_scope"

    @property
    def scope(self) -> str | None:
        v = self.extensions.get("scope")
        return v if isinstance(v, str) else None

    @property
    def action(self) -> str | None:
        v = self.extensions.get("action")
        return v if isinstance(v, str) else None

    def _message(self) -> str:
        if self.hint is None and self.scope:
            self.hint = f"reconnect with the `{self.scope}` scope granted"
        return super()._message()


class RateLimitedError(APIError):
    """``rate_limited`` (or a bare 429): retry after ``retry_after`` seconds."""

    kind_slug = "rate_limited"


class PayloadTooLargeError(APIError):
    kind_slug = "payload_too_large"


class MethodNotAllowedError(APIError):
    kind_slug = "method_not_allowed"


class UnsupportedMediaTypeError(APIError):
    kind_slug = "unsupported_media_type"


class GatewayTimeoutError(APIError):
    """``timeout``: the request took longer than the server allows."""

    kind_slug = "timeout"


class UnavailableError(APIError):
    kind_slug = "unavailable"


class InternalServerError(APIError):
    kind_slug = "internal"


#: Problem kind (last segment of ``type``) -> exception class.
ERROR_TYPES: dict[str, type[APIError]] = {
    cls.kind_slug: cls
    for cls in (
        InvalidRequestError,
        NotFoundError,
        AuthenticationError,
        PermissionDeniedError,
        ConflictError,
        UpstreamError,
        NeedsReauthError,
        MissingScopeError,
        RateLimitedError,
        PayloadTooLargeError,
        MethodNotAllowedError,
        UnsupportedMediaTypeError,
        GatewayTimeoutError,
        UnavailableError,
        InternalServerError,
    )
    if cls.kind_slug is not None
}

#: HTTP status -> class, for error answers that are not problem documents.
_BY_STATUS: dict[int, type[APIError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: InvalidRequestError,
    429: RateLimitedError,
    503: UnavailableError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def is_problem(response: httpx.Response) -> bool:
    ctype: str = response.headers.get("content-type", "")
    return ctype.split(";")[0].strip().lower() == PROBLEM_CONTENT_TYPE


def error_from_response(response: httpx.Response) -> APIError:
    """The typed exception for an error answer (its body must have been read)."""
    text = response.text
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    request_id = response.headers.get("x-request-id")
    doc: dict[str, Any] = {}
    if text:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            doc = parsed
    type_uri = doc.get("type") if isinstance(doc.get("type"), str) else None
    cls: type[APIError] = APIError
    if type_uri and type_uri.startswith(PROBLEM_BASE):
        cls = ERROR_TYPES.get(type_uri[len(PROBLEM_BASE) :], APIError)
    else:
        cls = _BY_STATUS.get(response.status_code, APIError)
        if response.status_code >= 500 and cls is APIError:
            cls = InternalServerError if response.status_code == 500 else APIError
    extensions = {k: v for k, v in doc.items() if k not in ("type", "title", "status", "detail")}
    if retry_after is None and isinstance(extensions.get("retry_after"), (int, float)):
        retry_after = float(extensions["retry_after"])
    detail = doc.get("detail") if isinstance(doc.get("detail"), str) else None
    if detail is None and not type_uri:
        # A Jira-shaped error (``errorMessages``/``errors``) passed through unchanged.
        msgs = doc.get("errorMessages")
        if isinstance(msgs, list) and msgs:
            detail = "; ".join(str(m) for m in msgs)
    title = doc.get("title") if isinstance(doc.get("title"), str) else None
    return cls(
        status=response.status_code,
        type=type_uri,
        title=title,
        detail=detail,
        extensions=extensions,
        request_id=request_id,
        retry_after=retry_after,
        body=text,
    )


__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "ERROR_TYPES",
    "GatewayTimeoutError",
    "InternalServerError",
    "InvalidRequestError",
    "JiragateError",
    "MethodNotAllowedError",
    "MissingScopeError",
    "NeedsReauthError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "TransportError",
    "UnavailableError",
    "UnsupportedMediaTypeError",
    "UpstreamError",
    "error_from_response",
    "is_problem",
    "parse_retry_after",
]
