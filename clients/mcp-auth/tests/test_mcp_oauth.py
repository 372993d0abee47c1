"""The official MCP Python SDK's OAuth client provider against a real `jiragate serve`: it
discovers jiragate's authorization server from the 401, registers (RFC 7591), sends the person
to the authorization endpoint (this test plays the browser over plain HTTP: console sign-in,
consent), exchanges the code with PKCE, then lists tools and calls them with the access token."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import anyio
import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from conftest import Stack

#: Nothing listens here: the "browser" stops at the redirect and hands its query to the SDK.
REDIRECT_URI = "http://127.0.0.1:33418/callback"


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def field(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, f"no field {name} in:\n{page[:2000]}"
    return html.unescape(m.group(1))


class Browser:
    """Follows the person's part of the flow with a cookie jar and no JavaScript."""

    def __init__(self, stack: Stack, approve: bool = True) -> None:
        self.stack = stack
        self.approve = approve
        self.redirected_to: str | None = None
        self.consent_page = ""
        #: The scope of every authorization request the SDK opened, in order.
        self.asked_scopes: list[str] = []

    async def open(self, authorization_url: str) -> None:
        base = self.stack.url
        self.asked_scopes.append(parse_qs(urlparse(authorization_url).query).get("scope", [""])[0])
        async with httpx2.AsyncClient(timeout=30, follow_redirects=False) as b:
            r = await b.get(authorization_url)
            assert r.status_code == 303, r.text
            consent = r.headers["location"]
            assert consent.startswith("/console/mcp/consent?request="), consent
            r = await b.get(base + consent)
            assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in?next=")
            r = await b.get(base + r.headers["location"])
            assert r.status_code == 200
            r = await b.post(
                f"{base}/console/sign-in",
                data={"csrf": field(r.text, "csrf"), "api_key": self.stack.admin_key, "next": field(r.text, "next")},
            )
            assert r.status_code == 303, r.text
            assert r.headers["location"] == consent
            r = await b.get(base + consent)
            assert r.status_code == 200, r.text
            self.consent_page = r.text
            r = await b.post(
                f"{base}/console/mcp/consent",
                data={
                    "csrf": field(r.text, "csrf"),
                    "request": field(r.text, "request"),
                    "connection": self.stack.connection_id,
                    "decision": "approve" if self.approve else "deny",
                },
            )
            assert r.status_code == 303, r.text
            self.redirected_to = r.headers["location"]

    async def callback(self) -> AuthorizationCodeResult:
        assert self.redirected_to and self.redirected_to.startswith("http://127.0.0.1:")
        q = {k: v[0] for k, v in parse_qs(urlparse(self.redirected_to).query).items()}
        if "error" in q:
            raise RuntimeError(f"authorization refused: {q['error']}")
        return AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss"))


def provider(stack: Stack, browser: Browser, storage: MemoryStorage, scope: str) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=f"{stack.url}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="pytest agent",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope=scope,
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )


async def run_session(stack: Stack, auth: OAuthClientProvider, body: Any) -> Any:
    async with httpx2.AsyncClient(auth=auth, timeout=60) as http:
        async with streamable_http_client(f"{stack.url}/mcp", http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await body(session)


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def test_dcr_consent_and_tool_calls(stack: Stack) -> None:
    storage, browser = MemoryStorage(), Browser(stack)
    auth = provider(stack, browser, storage, "jira:read")

    async def body(session: ClientSession) -> None:
        tools = await session.list_tools()
        names = {t.name for t in tools.tools}
        assert {"jira_list_connections", "jira_search_issues"} <= names
        listed = await session.call_tool("jira_list_connections", {})
        assert not listed.is_error, text_of(listed)
        assert stack.connection_id in text_of(listed)
        found = await session.call_tool(
            "jira_search_issues", {"connection": stack.connection_id, "jql": "project = ENG ORDER BY key", "limit": 2}
        )
        assert not found.is_error, text_of(found)
        # A write on the read-only grant: jiragate answers 403 with an insufficient_scope
        # challenge for jira:write before the call runs; the SDK steps up (asks the person
        # again, for the union of scopes) and retries with the new token.
        wrote = await session.call_tool(
            "jira_create_issue",
            {"connection": stack.connection_id, "project": "ENG", "summary": "x", "issue_type": "Task"},
        )
        assert not wrote.is_error, text_of(wrote)

    anyio.run(run_session, stack, auth, body)
    assert [set(s.split()) for s in browser.asked_scopes] == [{"jira:read"}, {"jira:read", "jira:write"}]
    assert "jira:write" in browser.consent_page
    assert storage.tokens is not None and set((storage.tokens.scope or "").split()) == {"jira:read", "jira:write"}
    # DCR happened, the consent page named the client and its redirect host
    assert storage.client is not None and storage.client.client_id.startswith("jgmc_")
    assert "pytest agent" in browser.consent_page and "127.0.0.1" in browser.consent_page
    assert storage.tokens is not None and storage.tokens.refresh_token
    # the access token is jiragate's own, never an Atlassian one
    assert storage.tokens.access_token.startswith("jgma_")

    # a second run reuses the stored tokens: no new consent
    browser.redirected_to = None

    async def again(session: ClientSession) -> None:
        listed = await session.call_tool("jira_list_connections", {})
        assert not listed.is_error

    anyio.run(run_session, stack, provider(stack, browser, storage, "jira:read"), again)
    assert browser.redirected_to is None


def test_declined_consent_gives_no_access(stack: Stack) -> None:
    storage, browser = MemoryStorage(), Browser(stack, approve=False)

    async def body(session: ClientSession) -> None:
        raise AssertionError("no session without consent")

    with pytest.raises(BaseException) as err:
        anyio.run(run_session, stack, provider(stack, browser, storage, "jira:read"), body)
    assert "access_denied" in repr(err.value) or "access_denied" in str(browser.redirected_to)
    assert storage.tokens is None


class DocumentServer:
    """Serves one client ID metadata document over https on 127.0.0.1."""

    def __init__(self, tls: Any, doc_for: Any) -> None:
        import http.server
        import ssl
        import threading

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.fetches += 1
                body = json.dumps(doc_for(outer.url)).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.fetches = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls.cert), str(tls.key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}/oauth/client.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()


def test_client_id_metadata_document(stack: Stack, tls: Any) -> None:
    docs = DocumentServer(
        tls,
        lambda url: {
            "client_id": url,
            "client_name": "pytest CIMD agent",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
    )
    try:
        storage, browser = MemoryStorage(), Browser(stack)
        auth = OAuthClientProvider(
            server_url=f"{stack.url}/mcp",
            client_metadata=OAuthClientMetadata(
                client_name="pytest CIMD agent",
                redirect_uris=[REDIRECT_URI],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
                scope="jira:read",
            ),
            storage=storage,
            redirect_handler=browser.open,
            callback_handler=browser.callback,
            client_metadata_url=docs.url,
        )

        async def body(session: ClientSession) -> None:
            listed = await session.call_tool("jira_list_connections", {})
            assert not listed.is_error, text_of(listed)
            assert stack.connection_id in text_of(listed)

        anyio.run(run_session, stack, auth, body)
        # no registration: the client id is the document's URL, which jiragate fetched
        assert storage.client is not None and storage.client.client_id == docs.url
        assert docs.fetches >= 1
        assert "pytest CIMD agent" in browser.consent_page
    finally:
        docs.close()
