"""Connectors: create by API token, list/get/check/delete, configuration and organizations."""

from __future__ import annotations

import pytest

from jiragate import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectorInfo,
    InvalidRequestError,
    Jiragate,
    NotFoundError,
)

from .conftest import Server, Sim


def test_create_by_api_token_then_list_get_check_delete(jg: Jiragate, sim: Sim) -> None:
    u = sim.user(0)
    created = jg.connectors.create(
        workspace_name="crud",
        name="by-token",
        subdomain=sim.site(0)["subdomain"],
        email=u["email"],
        api_token=u["api_token"],
    )
    assert created.auth_kind == "api_token"
    assert created.status == "healthy"
    assert created.workspace_name == "crud" and created.name == "by-token"
    assert created.owner == "installation"
    assert created.email == u["email"]
    assert u["api_token"] not in created.model_dump_json(), "the secret never comes back"

    listed = jg.connectors.list(workspace_name="crud")
    assert [c.id for c in listed] == [created.id]
    assert created.id in {c.id for c in jg.connectors.list()}

    assert jg.connectors.get(created.id).id == created.id
    assert jg.connectors.get("crud/by-token").id == created.id, "workspace/name resolves too"

    conn = jg.connect("jira", workspace_name="crud", name="by-token")
    assert conn.id == created.id
    checked = conn.check()
    assert checked.connector_id == created.id and checked.status == "healthy"

    conn.delete()
    with pytest.raises(NotFoundError) as e:
        jg.connectors.get(created.id)
    assert e.value.status == 404
    assert e.value.type == "https://jiragate.dev/problems/not_found"
    assert jg.connectors.list(workspace_name="crud") == []


def test_create_rejects_a_bad_request_with_the_field(jg: Jiragate, sim: Sim) -> None:
    u = sim.user(0)
    with pytest.raises(InvalidRequestError) as e:
        jg.connectors.create(name="  ", subdomain="acme", email=u["email"], api_token=u["api_token"])
    assert e.value.status == 422
    assert e.value.field == "name"
    assert e.value.kind == "validation"
    assert e.value.detail and "name" in e.value.detail


def test_wrong_api_token_is_refused_upstream(jg: Jiragate, sim: Sim) -> None:
    with pytest.raises(APIError) as e:
        jg.connectors.create(
            workspace_name="crud", name="bad", subdomain=sim.site(0)["subdomain"],
            email=sim.user(0)["email"], api_token="not-the-token",
        )
    assert e.value.status in (401, 403, 422, 502), e.value
    assert "not-the-token" not in str(e.value)


def test_settings_from_the_environment(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRAGATE_URL", server.url)
    monkeypatch.setenv("JIRAGATE_API_KEY", server.admin_key)
    with Jiragate() as jg:
        assert jg.url == server.url
        assert isinstance(jg.connectors.list(), list)

    monkeypatch.setenv("JIRAGATE_API_KEY", "jg_wrong")
    with Jiragate() as jg, pytest.raises(AuthenticationError) as e:
        jg.connectors.list()
    assert e.value.status == 401

    monkeypatch.delenv("JIRAGATE_URL")
    with pytest.raises(ConfigurationError):
        Jiragate()


def test_organization_id_selects_the_tenant(server: Server, jira_info: ConnectorInfo, sim: Sim) -> None:
    with server.client() as admin:
        org = admin.organizations.create(name="tenant-org")
    u = sim.user(0)
    with server.client(organization_id=org.id) as other:
        assert other.organization_id == org.id
        assert other.connectors.list() == [], "nothing crosses organizations"
        with pytest.raises(NotFoundError):
            other.connectors.get(jira_info.id)
        mine = other.connectors.create(
            workspace_name="w", name="jira", subdomain=sim.site(0)["subdomain"],
            email=u["email"], api_token=u["api_token"],
        )
        assert [c.id for c in other.connectors.list()] == [mine.id]
    with server.client() as admin:
        assert mine.id not in {c.id for c in admin.connectors.list()}
        assert admin.connect("jira", workspace_name="w", name="jira").id == jira_info.id
