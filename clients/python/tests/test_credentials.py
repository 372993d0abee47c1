"""get_credential: fresh Jira access tokens for a tenant's installation and user connections.

These tests run their own simulator with short-lived access tokens (ACCESS_TTL seconds). The
simulated clock is moved past a token's expiry, which kills it upstream; `jiragate serve` cannot
see the simulator's clock, so the test then waits (bounded, a few seconds) until the server's own
clock agrees the token is due, and asks again. The client never talks to the token endpoint:
every request it sends goes to jiragate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest

from jiragate import Credential, InvalidRequestError, NotFoundError, PermissionDeniedError

from .conftest import Server, Stack, make_stack

ACCESS_TTL = 20
# jiragate refreshes a token 30 s before it expires, or when a quarter of its lifetime is left
# if that is sooner (`refresh_margin` in crates/auth): 5 s for these 20 s tokens.
SERVER_SKEW = min(30, ACCESS_TTL / 4)


@pytest.fixture(scope="module")
def token_stack() -> Iterator[Stack]:
    yield from make_stack("--issues", "20", "--access-token-ttl", str(ACCESS_TTL))


@pytest.fixture(scope="module")
def tenant(token_stack: Stack) -> Server:
    """Workspace `tenant-a`: one installation connection and one owned by user `u-42`."""
    s = token_stack.server
    s.oauth_connect(workspace_name="tenant-a", name="shared")
    s.oauth_connect(workspace_name="tenant-a", name="alice", owner="u-42", sim_user=1)
    return s


def jira_accepts(cred: Credential) -> int:
    r = httpx.get(f"{cred.base_url}/rest/api/3/myself", headers=cred.headers(), timeout=10)
    return r.status_code


def test_installation_and_user_credentials_survive_expiry(tenant: Server) -> None:
    sim = tenant.sim
    sent: list[httpx.URL] = []
    http = httpx.Client(event_hooks={"request": [lambda r: sent.append(r.url)]})
    with tenant.client(api_key=tenant.key_with("credentials:read"), http_client=http) as jg:
        inst = jg.get_credential(tenant_id="tenant-a", credential_for="installation")
        user = jg.get_credential(tenant_id="tenant-a", user_id="u-42", credential_for="user")
        assert inst.connector_id != user.connector_id
        for cred in (inst, user):
            assert cred.token_type == "Bearer"
            assert cred.base_url.startswith(sim.info["api_url"].rstrip("/") + "/ex/jira/")
            assert cred.expires_at > datetime.now(timezone.utc)
            assert "access_token" not in repr(cred) and cred.access_token not in repr(cred)
            assert jira_accepts(cred) == 200
        me_inst = httpx.get(f"{inst.base_url}/rest/api/3/myself", headers=inst.headers()).json()
        me_user = httpx.get(f"{user.base_url}/rest/api/3/myself", headers=user.headers()).json()
        assert me_inst["emailAddress"] == sim.user(0)["email"]
        assert me_user["emailAddress"] == sim.user(1)["email"], "the user's own Atlassian account"

        refreshes_before = sim.stats()["token_requests"]["refresh_token"]
        sim.advance(ACCESS_TTL + 3600)
        assert jira_accepts(inst) == 401, "expired upstream"
        assert jira_accepts(user) == 401, "expired upstream"

        due = max(inst.expires_at, user.expires_at).timestamp() - SERVER_SKEW + 0.5
        time.sleep(min(ACCESS_TTL, max(0.0, due - time.time())))

        inst2 = jg.get_credential(tenant_id="tenant-a", credential_for="installation")
        user2 = jg.get_credential(tenant_id="tenant-a", user_id="u-42", credential_for="user")
    http.close()

    assert inst2.connector_id == inst.connector_id and user2.connector_id == user.connector_id
    assert inst2.access_token != inst.access_token
    assert user2.access_token != user.access_token
    assert jira_accepts(inst2) == 200
    assert jira_accepts(user2) == 200
    assert sim.stats()["token_requests"]["refresh_token"] >= refreshes_before + 2, "the server refreshed"
    assert {u.path for u in sent} == {"/api/v1/credentials/token"}, "the client only asked jiragate"
    assert {f"{u.scheme}://{u.host}:{u.port}" for u in sent} == {tenant.url}


def test_credential_by_connector_id(tenant: Server) -> None:
    with tenant.client(api_key=tenant.key_with("credentials:read")) as jg:
        shared = jg.connect("jira", workspace_name="tenant-a", name="shared")
        cred = jg.get_credential(connector_id=shared.id)
    assert cred.connector_id == shared.id
    assert jira_accepts(cred) == 200


def test_credential_errors(tenant: Server) -> None:
    # admin does not imply credentials:read: live tokens must be granted explicitly.
    with tenant.client() as admin, pytest.raises(PermissionDeniedError) as e:
        admin.get_credential(tenant_id="tenant-a", credential_for="installation")
    assert e.value.status == 403 and e.value.required_scope == "credentials:read"

    with tenant.client(api_key=tenant.key_with("credentials:read")) as jg:
        with pytest.raises(NotFoundError):
            jg.get_credential(tenant_id="tenant-a", user_id="nobody", credential_for="user")
        with pytest.raises(NotFoundError):
            jg.get_credential(tenant_id="tenant-z", credential_for="installation")
        with pytest.raises(ValueError):
            jg.get_credential(tenant_id="tenant-a", credential_for="user")


def test_api_token_connections_have_no_access_token(token_stack: Stack) -> None:
    s = token_stack.server
    u = s.sim.user(0)
    with s.client() as admin:
        info = admin.connectors.create(
            workspace_name="tenant-b", name="token", subdomain=s.sim.site(0)["subdomain"],
            email=u["email"], api_token=u["api_token"],
        )
    with s.client(api_key=s.key_with("credentials:read")) as jg, pytest.raises(InvalidRequestError) as e:
        jg.get_credential(tenant_id="tenant-b", credential_for="installation")
    assert e.value.field == "connector_id"
    assert info.id
