"""The asynchronous client: :class:`AsyncJiragate` and the :class:`AsyncConnector` handle.

The same surface as :mod:`jiragate.client`, with ``await`` and async iterators."""

from __future__ import annotations

import json
import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import httpx

from . import _core
from ._core import CONNECTORS, API, Call, Settings, seg
from .errors import APIError, TransportError
from .models import (
    ApiKeyInfo,
    CheckResult,
    ConnectorInfo,
    ConnectSession,
    CreatedApiKey,
    Credential,
    CredentialFor,
    Description,
    ExecuteResult,
    OAuthClientInfo,
    OrganizationInfo,
    ToolFormat,
)
from .tools import Toolset, error_text, parse_tool_call, result_text, tool_result


class AsyncJiragate:
    """A client of one jiragate server.

    ``url`` and ``api_key`` default to ``JIRAGATE_URL`` and ``JIRAGATE_API_KEY`` (or
    ``JIRAGATE_API_KEY_FILE``). A platform key acts for another organization with
    ``organization_id=`` (sent as ``X-Organization-Id``; default ``JIRAGATE_ORGANIZATION_ID``).

    A 429 is retried after its ``Retry-After`` for idempotent calls only (GET, PUT, DELETE,
    read-only ``execute``, ``get_credential``), at most ``max_retries`` times and only when the
    requested wait is at most ``max_retry_wait`` seconds.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        organization_id: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        max_retry_wait: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = _core.resolve_settings(
            url, api_key, organization_id, timeout, max_retries, max_retry_wait
        )
        self._own_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self.connectors = AsyncConnectors(self)
        self.oauth_clients = AsyncOAuthClients(self)
        self.connect_sessions = AsyncConnectSessions(self)
        self.keys = AsyncKeys(self)
        self.organizations = AsyncOrganizations(self)

    @property
    def url(self) -> str:
        return self._settings.url

    @property
    def organization_id(self) -> str | None:
        return self._settings.organization_id

    @property
    def settings(self) -> Settings:
        return self._settings

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncJiragate:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send(self, call: Call) -> httpx.Response:
        """Send one API call with the retry policy; raise the typed error for error answers."""
        attempt = 0
        while True:
            request = call.build(self._http, self._settings)
            try:
                response = await self._http.send(request)
            except httpx.TransportError as e:
                raise TransportError(f"{call.method} {request.url}: {e}", cause=e) from e
            delay = _core.retry_delay(call, response, attempt, self._settings)
            if delay is None:
                return _core.check(call, response)
            await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1

    # -- the short way in ----------------------------------------------------------------------

    async def connect(
        self,
        connector_type: str = "jira",
        *,
        workspace_name: str | None = None,
        name: str | None = None,
        connector_id: str | None = None,
    ) -> AsyncConnector:
        """A handle on an existing connector, by ``workspace_name`` + ``name`` or by id.

        Raises :class:`~jiragate.errors.NotFoundError` when there is no such connector.
        """
        if connector_type.lower() != "jira":
            raise ValueError(f"unsupported connector type {connector_type!r}; jiragate speaks 'jira'")
        info = await self.connectors.get(_core.connector_ref(connector_id, workspace_name, name))
        return AsyncConnector(self, info)

    async def get_credential(
        self,
        *,
        tenant_id: str | None = None,
        user_id: str | None = None,
        credential_for: CredentialFor | None = None,
        connector_id: str | None = None,
    ) -> Credential:
        """A fresh Jira access token, its expiry and the base URL to call Jira with.

        ``tenant_id`` is the workspace that holds the tenant's connections; with
        ``credential_for="user"`` the connection owned by ``user_id`` is used, with
        ``"installation"`` the tenant's shared one. Or name the connector with
        ``connector_id``. The server refreshes tokens itself (rotating refresh tokens never
        leave it); the API key needs the ``credentials:read`` scope. OAuth connections only.
        """
        call = _core.token_call(
            connector_id=connector_id,
            tenant_id=tenant_id,
            user_id=user_id,
            credential_for=credential_for,
        )
        return Credential.model_validate((await self.send(call)).json())


class AsyncConnectors:
    """``/api/v1/integrations/connectors``."""

    def __init__(self, client: AsyncJiragate) -> None:
        self._c = client

    async def create(
        self,
        *,
        name: str,
        workspace_name: str | None = None,
        subdomain: str | None = None,
        base_url: str | None = None,
        email: str | None = None,
        api_token: str | None = None,
        scoped: bool | None = None,
        refresh_token: str | None = None,
        access_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        api_type: str | None = None,
        user_id: str | None = None,
    ) -> ConnectorInfo:
        """Create a connector with an API token (``email`` + ``api_token``) or OAuth tokens
        (``refresh_token`` and friends). The server verifies the credential before storing it."""
        call = _core.create_connector_call(
            name=name,
            workspace_name=workspace_name,
            subdomain=subdomain,
            base_url=base_url,
            email=email,
            api_token=api_token,
            scoped=scoped,
            refresh_token=refresh_token,
            access_token=access_token,
            client_id=client_id,
            client_secret=client_secret,
            api_type=api_type,
            user_id=user_id,
        )
        return ConnectorInfo.model_validate((await self._c.send(call)).json())

    async def list(self, *, workspace_name: str | None = None) -> list[ConnectorInfo]:
        call = Call("GET", CONNECTORS, params={"workspace_name": workspace_name}, idempotent=True)
        return [ConnectorInfo.model_validate(x) for x in _core.list_data(await self._c.send(call))]

    async def get(self, connector: str) -> ConnectorInfo:
        """By id, or ``workspace/name``."""
        call = Call("GET", f"{CONNECTORS}/{seg(connector)}", idempotent=True)
        return ConnectorInfo.model_validate((await self._c.send(call)).json())

    async def delete(self, connector: str) -> None:
        await self._c.send(Call("DELETE", f"{CONNECTORS}/{seg(connector)}", idempotent=True))

    async def check(self, connector: str) -> CheckResult:
        """Health-check now (``GET /rest/api/3/myself`` with the stored credential)."""
        call = Call("POST", f"{CONNECTORS}/{seg(connector)}/check", idempotent=True)
        return CheckResult.model_validate((await self._c.send(call)).json())


class AsyncOAuthClients:
    """``/api/v1/oauth/clients``: registered Atlassian OAuth 2.0 (3LO) apps."""

    def __init__(self, client: AsyncJiragate) -> None:
        self._c = client

    async def create(self, *, client_id: str, client_secret: str, scopes: Iterable[str] = ()) -> OAuthClientInfo:
        body = {"client_id": client_id, "client_secret": client_secret, "scopes": list(scopes)}
        return OAuthClientInfo.model_validate((await self._c.send(Call("POST", f"{API}/oauth/clients", json=body))).json())

    async def list(self) -> list[OAuthClientInfo]:
        call = Call("GET", f"{API}/oauth/clients", idempotent=True)
        return [OAuthClientInfo.model_validate(x) for x in _core.list_data(await self._c.send(call))]

    async def delete(self, id: str) -> None:
        await self._c.send(Call("DELETE", f"{API}/oauth/clients/{seg(id)}", idempotent=True))


class AsyncConnectSessions:
    """``/api/v1/connect/sessions``: the OAuth consent flow for a new connector."""

    def __init__(self, client: AsyncJiragate) -> None:
        self._c = client

    async def create(
        self,
        *,
        oauth_client_id: str,
        name: str,
        workspace_name: str | None = None,
        scopes: Iterable[str] | None = None,
        subdomain: str | None = None,
        owner: str | None = None,
        api_type: str | None = None,
    ) -> ConnectSession:
        """Start a session; send the user's browser to ``authorize_url``. ``owner`` is the
        user id that will own the connector (absent: the installation)."""
        body: dict[str, Any] = {"oauth_client_id": oauth_client_id, "name": name}
        for k, v in (("workspace_name", workspace_name), ("subdomain", subdomain), ("owner", owner), ("api_type", api_type)):
            if v is not None:
                body[k] = v
        if scopes is not None:
            body["scopes"] = list(scopes)
        return ConnectSession.model_validate((await self._c.send(Call("POST", f"{API}/connect/sessions", json=body))).json())

    async def get(self, id: str) -> ConnectSession:
        call = Call("GET", f"{API}/connect/sessions/{seg(id)}", idempotent=True)
        return ConnectSession.model_validate((await self._c.send(call)).json())

    async def choose_site(self, id: str, cloud_id: str) -> ConnectSession:
        call = Call("POST", f"{API}/connect/sessions/{seg(id)}/site", json={"cloud_id": cloud_id})
        return ConnectSession.model_validate((await self._c.send(call)).json())


class AsyncKeys:
    """``/api/v1/keys``: API keys of the organization (needs ``admin``)."""

    def __init__(self, client: AsyncJiragate) -> None:
        self._c = client

    async def create(self, *, name: str, scopes: Iterable[str], platform: bool = False) -> CreatedApiKey:
        body = {"name": name, "scopes": list(scopes), "platform": platform}
        return CreatedApiKey.model_validate((await self._c.send(Call("POST", f"{API}/keys", json=body))).json())

    async def list(self) -> list[ApiKeyInfo]:
        call = Call("GET", f"{API}/keys", idempotent=True)
        return [ApiKeyInfo.model_validate(x) for x in _core.list_data(await self._c.send(call))]

    async def revoke(self, id: str) -> None:
        await self._c.send(Call("DELETE", f"{API}/keys/{seg(id)}", idempotent=True))


class AsyncOrganizations:
    """``/api/v1/organizations`` (platform keys only): the tenants of this server."""

    def __init__(self, client: AsyncJiragate) -> None:
        self._c = client

    async def create(self, *, name: str) -> OrganizationInfo:
        call = Call("POST", f"{API}/organizations", json={"name": name})
        return OrganizationInfo.model_validate((await self._c.send(call)).json())

    async def list(self) -> list[OrganizationInfo]:
        call = Call("GET", f"{API}/organizations", idempotent=True)
        return [OrganizationInfo.model_validate(x) for x in _core.list_data(await self._c.send(call))]


class AsyncProxy:
    """Raw Jira REST through jiragate, with the connection's credential injected.

    Jira's status, headers and body come back unchanged as an ``httpx.Response`` (a Jira 404
    is a response, not an exception); only jiragate's own refusals (problem documents) raise.
    """

    def __init__(self, connector: AsyncConnector) -> None:
        self._conn = connector

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """``path`` is the Jira path, e.g. ``rest/api/3/myself``. ``idempotent`` overrides
        the method's default for the 429 retry policy."""
        call = _core.proxy_call(
            self._conn.id,
            method,
            path,
            params=dict(params) if params else None,
            json_body=json,
            content=content,
            headers=dict(headers) if headers else None,
            idempotent=idempotent,
        )
        return await self._conn._client.send(call)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kw)


class AsyncConnector:
    """One connector: describe, execute, stream, proxy and agent tools."""

    def __init__(self, client: AsyncJiragate, info: ConnectorInfo) -> None:
        self._client = client
        self.info = info
        self.proxy = AsyncProxy(self)
        self._description: Description | None = None

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def client(self) -> AsyncJiragate:
        return self._client

    def __repr__(self) -> str:
        return f"AsyncConnector(id={self.id!r}, workspace_name={self.info.workspace_name!r}, name={self.info.name!r})"

    async def reload(self) -> ConnectorInfo:
        self.info = await self._client.connectors.get(self.id)
        return self.info

    async def check(self) -> CheckResult:
        return await self._client.connectors.check(self.id)

    async def delete(self) -> None:
        await self._client.connectors.delete(self.id)

    async def describe(self, filter: str | None = None, *, refresh: bool = False) -> Description:
        """Entities, actions and their params schemas. The unfiltered answer is cached on the
        handle (``refresh=True`` asks again)."""
        if filter is None and self._description is not None and not refresh:
            return self._description
        call = Call("GET", f"{CONNECTORS}/{seg(self.id)}/describe", params={"filter": filter}, idempotent=True)
        d = Description.model_validate((await self._client.send(call)).json())
        if filter is None:
            self._description = d
        return d

    async def execute(
        self,
        entity: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        read_only: bool = False,
    ) -> ExecuteResult:
        """Run one catalog action. ``data`` is an object or an array; paged actions return one
        page and ``next_page_token`` (pass it back as ``params["page_token"]``, or use
        :meth:`stream`). ``read_only=True`` makes the server refuse writes."""
        call = _core.execute_call(self.id, entity, action, dict(params) if params else None, read_only)
        return ExecuteResult.model_validate((await self._client.send(call)).json())

    async def pages(
        self,
        entity: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int | None = None,
        read_only: bool = True,
    ) -> AsyncIterator[ExecuteResult]:
        """Every page of a paged action, fetched one at a time as the iterator advances."""
        p = dict(params or {})
        if page_size is not None:
            p["limit"] = page_size
        seen: set[str] = set()
        while True:
            page = await self.execute(entity, action, p, read_only=read_only)
            yield page
            token = page.next_page_token
            if not token:
                return
            if token in seen:
                raise RuntimeError(f"the server repeated page token {token!r}; stopping")
            seen.add(token)
            p["page_token"] = token

    async def stream(
        self,
        entity: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int | None = None,
        read_only: bool = True,
    ) -> AsyncIterator[Any]:
        """Every item of every page, in constant memory: one page is held at a time and the
        next is requested only when the previous one has been consumed."""
        async for page in self.pages(entity, action, params, page_size=page_size, read_only=read_only):
            if isinstance(page.data, list):
                for item in page.data:
                    yield item
            elif page.data is not None:
                yield page.data

    # -- agent tools ---------------------------------------------------------------------------

    async def toolset(
        self,
        *,
        actions: Iterable[str] | None = None,
        filter: str | None = None,
        read_only: bool = False,
    ) -> Toolset:
        """Tools built from :meth:`describe` (``actions`` like ``["issues.search"]`` narrows)."""
        return Toolset(await self.describe(), actions=actions, filter=filter, read_only=read_only)

    async def as_tools(
        self,
        format: ToolFormat = "openai",
        *,
        actions: Iterable[str] | None = None,
        filter: str | None = None,
        read_only: bool = False,
    ) -> list[dict[str, Any]]:
        """Tool definitions for OpenAI, Anthropic or MCP; input schemas come from the catalog."""
        return (await self.toolset(actions=actions, filter=filter, read_only=read_only)).definitions(format)

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | str | None = None) -> ExecuteResult:
        """Run the tool ``name`` (as named by :meth:`as_tools`) with the model's arguments."""
        tool = (await self.toolset()).get(name)
        call = parse_tool_call({"name": name, "arguments": arguments})
        return await self.execute(tool.entity, tool.action, call.arguments, read_only=tool.read_only)

    async def run_tool_call(self, call: Mapping[str, Any] | Any) -> dict[str, Any]:
        """Run a model's tool call (OpenAI, Anthropic or MCP shape) and answer it in the same
        shape. jiragate's errors are answered as error results the model can read."""
        tc = parse_tool_call(call)
        try:
            tool = (await self.toolset()).get(tc.name)
            result = await self.execute(tool.entity, tool.action, tc.arguments, read_only=tool.read_only)
        except APIError as e:
            return tool_result(tc, error_text(e), True)
        except KeyError as e:
            return tool_result(tc, json.dumps({"error": "unknown_tool", "detail": str(e)}), True)
        return tool_result(tc, result_text(result), False)


__all__ = [
    "AsyncConnectSessions",
    "AsyncConnector",
    "AsyncConnectors",
    "AsyncJiragate",
    "AsyncKeys",
    "AsyncOAuthClients",
    "AsyncOrganizations",
    "AsyncProxy",
]
