"""Atlassian sign-in mode with the official MCP Python SDK's OAuth client provider: each person
signs in with Atlassian (the simulator's sign-in, played here as the browser with its
``sim_user`` hint), consents on jiragate's page, and the agent then acts as that person on
their own user connection: `myself` answers their own account. Signing in again reuses the
person's connection."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import anyio
import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

from conftest import Stack
from test_mcp_oauth import REDIRECT_URI, MemoryStorage, field, run_session, text_of


class AtlassianBrowser:
    """The person's part: authorize → Atlassian sign-in as ``email`` → consent."""

    def __init__(self, stack: Stack, email: str) -> None:
        self.stack = stack
        self.email = email
        self.redirected_to: str | None = None
        self.consent_page = ""

    async def open(self, authorization_url: str) -> None:
        base = self.stack.url
        async with httpx2.AsyncClient(timeout=30, follow_redirects=False) as b:
            r = await b.get(authorization_url)
            assert r.status_code == 303, r.text
            assert r.headers["location"].startswith("/oauth/mcp/sign-in?request="), r.headers["location"]
            r = await b.get(base + r.headers["location"])
            assert r.status_code == 303, r.text
            atlassian = urlparse(r.headers["location"])
            assert r.headers["location"].startswith(str(self.stack.sim["auth_url"]).rstrip("/"))
            query = parse_qs(atlassian.query)
            assert query["client_id"] == [self.stack.sim["oauth_clients"][0]["client_id"]]
            signed_in = urlunparse(atlassian._replace(query=atlassian.query + "&" + urlencode({"sim_user": self.email})))
            r = await b.get(signed_in)
            assert r.status_code == 302, r.text
            assert r.headers["location"].startswith(f"{base}/oauth/callback?"), r.headers["location"]
            r = await b.get(r.headers["location"])
            assert r.status_code == 303, r.text
            consent = r.headers["location"]
            assert consent.startswith("/oauth/mcp/consent?ticket="), consent
            r = await b.get(base + consent)
            assert r.status_code == 200, r.text
            self.consent_page = r.text
            r = await b.post(
                f"{base}/oauth/mcp/consent", data={"ticket": field(r.text, "ticket"), "decision": "approve"}
            )
            assert r.status_code == 303, r.text
            self.redirected_to = r.headers["location"]

    async def callback(self) -> AuthorizationCodeResult:
        assert self.redirected_to and self.redirected_to.startswith(REDIRECT_URI)
        q = {k: v[0] for k, v in parse_qs(urlparse(self.redirected_to).query).items()}
        assert "error" not in q, q
        return AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss"))


def sign_in_as(stack: Stack, email: str) -> tuple[str, str, AtlassianBrowser]:
    """One person's whole flow with a fresh SDK client: (their connection id, myself text)."""
    storage, browser = MemoryStorage(), AtlassianBrowser(stack, email)
    auth = OAuthClientProvider(
        server_url=f"{stack.url}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="pytest sign-in agent",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope="jira:read",
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        tools = await session.list_tools()
        assert "jira_execute" in {t.name for t in tools.tools}
        listed = await session.call_tool("jira_list_connections", {})
        assert not listed.is_error, text_of(listed)
        conns = json.loads(text_of(listed))["connections"]
        assert len(conns) == 1, conns
        seen["connection"] = conns[0]["id"]
        me = await session.call_tool(
            "jira_execute", {"connection": conns[0]["id"], "entity": "myself", "action": "get"}
        )
        assert not me.is_error, text_of(me)
        seen["me"] = text_of(me)

    anyio.run(run_session, stack, auth, body)
    assert storage.tokens is not None and storage.tokens.access_token.startswith("jgma_")
    return seen["connection"], seen["me"], browser


def test_each_person_signs_in_with_atlassian_and_acts_as_themselves(signin_stack: Stack) -> None:
    a, b = signin_stack.sim["users"][0], signin_stack.sim["users"][1]
    conn_a, me_a, browser = sign_in_as(signin_stack, a["email"])
    assert a["account_id"] in me_a and b["account_id"] not in me_a
    assert a["account_id"] in browser.consent_page and "pytest sign-in agent" in browser.consent_page
    conn_b, me_b, _ = sign_in_as(signin_stack, b["email"])
    assert b["account_id"] in me_b and a["account_id"] not in me_b
    assert conn_b != conn_a
    # A again: the same connection (with fresh tokens)
    conn_a2, me_a2, _ = sign_in_as(signin_stack, a["email"])
    assert conn_a2 == conn_a and a["account_id"] in me_a2
    # the grants act as the people, not as an API key
    r = httpx2.get(
        f"{signin_stack.url}/api/v1/mcp/grants",
        headers={"authorization": f"Bearer {signin_stack.admin_key}"},
        timeout=30,
    )
    grants = r.json()["data"]
    assert sorted(g["atlassian_account_id"] for g in grants) == sorted(
        [a["account_id"], a["account_id"], b["account_id"]]
    )
    assert all(g["api_key_id"] is None for g in grants)
