"""What the sync and async clients share: configuration, the request of each API call, the
retry policy and the decoding of answers. Nothing here does I/O."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from .errors import ConfigurationError, error_from_response, is_problem, parse_retry_after
from .models import CredentialFor

__version__ = "0.1.0"

USER_AGENT = f"jiragate-python/{__version__}"
ORG_HEADER = "X-Organization-Id"
API = "/api/v1"
CONNECTORS = f"{API}/integrations/connectors"

#: Methods that may be repeated without changing the outcome (RFC 9110 §9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class Settings:
    url: str
    api_key: str
    organization_id: str | None
    timeout: float
    max_retries: int
    max_retry_wait: float


def _read_key_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as e:
        raise ConfigurationError(f"cannot read JIRAGATE_API_KEY_FILE {path!r}: {e}") from e


def resolve_settings(
    url: str | None,
    api_key: str | None,
    organization_id: str | None,
    timeout: float,
    max_retries: int,
    max_retry_wait: float,
) -> Settings:
    """Arguments first, then ``JIRAGATE_URL`` / ``JIRAGATE_API_KEY`` (or ``_FILE``) /
    ``JIRAGATE_ORGANIZATION_ID`` from the environment."""
    url = url or os.environ.get("JIRAGATE_URL") or os.environ.get("JIRAGATE_SERVER")
    if not url:
        raise ConfigurationError("no server URL: pass url=... or set JIRAGATE_URL")
    if api_key is None:
        api_key = os.environ.get("JIRAGATE_API_KEY")
        if not api_key and os.environ.get("JIRAGATE_API_KEY_FILE"):
            api_key = _read_key_file(os.environ["JIRAGATE_API_KEY_FILE"])
    if not api_key:
        raise ConfigurationError("no API key: pass api_key=... or set JIRAGATE_API_KEY")
    if organization_id is None:
        organization_id = os.environ.get("JIRAGATE_ORGANIZATION_ID") or None
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    return Settings(
        url=url.rstrip("/"),
        api_key=api_key.strip(),
        organization_id=organization_id,
        timeout=timeout,
        max_retries=max_retries,
        max_retry_wait=max_retry_wait,
    )


def default_headers(s: Settings) -> dict[str, str]:
    h = {
        "Authorization": f"Bearer {s.api_key}",
        "User-Agent": USER_AGENT,
        "Accept": "application/json, application/problem+json",
    }
    if s.organization_id:
        h[ORG_HEADER] = s.organization_id
    return h


def seg(value: str) -> str:
    """One path segment, percent-encoded (``workspace/name`` keeps its slash as ``%2F``)."""
    return quote(value, safe="")


@dataclass
class Call:
    """One HTTP request of the API, before it is sent."""

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: May the client send it again after a 429? (see :func:`retry_delay`)
    idempotent: bool = False
    #: Raise for error answers (``False`` for the proxy, which hands back Jira's answer).
    raise_errors: bool = True

    def build(self, client: httpx.Client | httpx.AsyncClient, s: Settings) -> httpx.Request:
        headers = {**default_headers(s), **self.headers}
        kwargs: dict[str, Any] = {}
        if self.params:
            kwargs["params"] = {k: v for k, v in self.params.items() if v is not None}
        if self.content is not None:
            kwargs["content"] = self.content
        elif self.json is not None:
            kwargs["content"] = json.dumps(self.json).encode()
            headers.setdefault("Content-Type", "application/json")
        return client.build_request(
            self.method, f"{s.url}{self.path}", headers=headers, timeout=s.timeout, **kwargs
        )


def connector_ref(connector: str | None, workspace_name: str | None, name: str | None) -> str:
    """The ``{id}`` of connector routes: an id, or ``workspace/name`` (the server resolves both)."""
    if connector:
        return connector
    if not name:
        raise ValueError("give a connector id, or name= (and optionally workspace_name=)")
    return f"{workspace_name or 'default'}/{name}"


# ---------------------------------------------------------------------------------------------
# calls


def create_connector_call(
    *,
    name: str,
    workspace_name: str | None,
    subdomain: str | None,
    base_url: str | None,
    email: str | None,
    api_token: str | None,
    scoped: bool | None,
    refresh_token: str | None,
    access_token: str | None,
    client_id: str | None,
    client_secret: str | None,
    api_type: str | None,
    user_id: str | None,
) -> Call:
    creds: dict[str, Any] = {}
    if refresh_token is not None:
        creds["refresh_token"] = refresh_token
        if access_token is not None:
            creds["access_token"] = access_token
        if client_id is not None:
            creds["client_id"] = client_id
        if client_secret is not None:
            creds["client_secret"] = client_secret
    else:
        if email is not None:
            creds["username"] = email
        if api_token is not None:
            creds["password"] = api_token
        if scoped is not None:
            creds["scoped"] = scoped
    rc: dict[str, Any] = {}
    if subdomain is not None:
        rc["subdomain"] = subdomain
    if base_url is not None:
        rc["base_url"] = base_url
    if api_type is not None:
        rc["api_type"] = api_type
    body: dict[str, Any] = {"connector_type": "Jira", "name": name, "credentials": creds}
    if workspace_name is not None:
        body["workspace_name"] = workspace_name
    if rc:
        body["replication_config"] = rc
    if user_id is not None:
        body["user_id"] = user_id
    return Call("POST", CONNECTORS, json=body)


def execute_call(
    ref: str, entity: str, action: str, params: dict[str, Any] | None, read_only: bool
) -> Call:
    body: dict[str, Any] = {"entity": entity, "action": action, "params": params or {}}
    if read_only:
        body["read_only"] = True
    # With read_only the server refuses any action that writes, so the call cannot change Jira
    # and may be repeated after a 429.
    return Call("POST", f"{CONNECTORS}/{seg(ref)}/execute", json=body, idempotent=read_only)


def token_call(
    *,
    connector_id: str | None,
    tenant_id: str | None,
    user_id: str | None,
    credential_for: CredentialFor | None,
) -> Call:
    body: dict[str, Any] = {}
    if connector_id is not None:
        body["connector_id"] = connector_id
    else:
        if tenant_id is None:
            raise ValueError("give connector_id=, or tenant_id= (the workspace of the tenant)")
        if credential_for is None:
            credential_for = "user" if user_id is not None else "installation"
        if credential_for == "user" and not user_id:
            raise ValueError('credential_for="user" needs user_id=')
        body["workspace_name"] = tenant_id
        body["credential_for"] = credential_for
        if user_id is not None and credential_for == "user":
            body["user_id"] = user_id
    # Asking for a token twice hands out a valid token twice: safe to repeat.
    return Call("POST", f"{API}/credentials/token", json=body, idempotent=True)


def proxy_call(
    ref: str,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None,
    json_body: Any,
    content: bytes | str | None,
    headers: dict[str, str] | None,
    idempotent: bool | None,
) -> Call:
    method = method.upper()
    path = path.lstrip("/")
    if not path:
        raise ValueError("path must name a Jira REST path, e.g. rest/api/3/myself")
    data = content.encode() if isinstance(content, str) else content
    return Call(
        method,
        f"{CONNECTORS}/{seg(ref)}/proxy/{path}",
        json=json_body,
        params=params,
        content=data,
        headers=dict(headers or {}),
        idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
        raise_errors=False,
    )


# ---------------------------------------------------------------------------------------------
# answers


def retry_delay(call: Call, response: httpx.Response, attempt: int, s: Settings) -> float | None:
    """Seconds to wait before sending ``call`` again, or ``None`` to stop.

    Only a 429 is retried, only for idempotent calls, at most ``max_retries`` times, and only
    when the wait the server asks for (``Retry-After``) is within ``max_retry_wait``.
    """
    if response.status_code != 429 or not call.idempotent or attempt >= s.max_retries:
        return None
    wait = parse_retry_after(response.headers.get("retry-after"))
    if wait is None:
        # No header: back off exponentially (1, 2, 4 s ...), still bounded.
        wait = float(2**attempt)
    if wait > s.max_retry_wait:
        return None
    # Waiting a hair longer than asked keeps us clear of the server's own rounding.
    return wait + 0.05


def check(call: Call, response: httpx.Response) -> httpx.Response:
    """Raise the typed error for an error answer (for the proxy: only jiragate's own problems)."""
    if response.status_code < 400:
        return response
    if call.raise_errors or is_problem(response):
        raise error_from_response(response)
    return response


def data_json(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def list_data(response: httpx.Response) -> list[Any]:
    body = data_json(response)
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return list(body["data"])
    raise ValueError("expected a {data: [...]} list answer")


__all__ = [
    "Call",
    "Settings",
    "check",
    "connector_ref",
    "resolve_settings",
    "retry_delay",
]
