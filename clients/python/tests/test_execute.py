"""describe and execute through a connector handle; typed errors for 404, 422 and a missing scope."""

from __future__ import annotations

import pytest

from jiragate import (
    Connector,
    ConnectorInfo,
    InvalidRequestError,
    Jiragate,
    MissingScopeError,
    NotFoundError,
    PermissionDeniedError,
)

from .conftest import Server, Sim

PROJECTS = {"ENG", "OPS", "MKT", "HELP"}


def test_describe_lists_catalog_actions_with_schemas(jira: Connector, jira_info: ConnectorInfo) -> None:
    d = jira.describe()
    assert d.connector_id == jira_info.id
    pairs = {f"{e}.{a.action}" for e, a in d.actions()}
    assert len(pairs) == d.action_count > 50
    assert {"issues.search", "issues.get", "issues.create", "myself.get", "projects.list"} <= pairs
    search = d.action("issues", "search")
    assert search.read_only is True
    assert search.pagination == "next_page_token"
    assert search.params_schema["type"] == "object"
    assert "jql" in search.params_schema["properties"]
    assert "read:jira-work" in search.scopes.classic
    assert d.action("issues", "create").read_only is False
    with pytest.raises(KeyError):
        d.action("issues", "teleport")

    only = jira.describe(filter="issues.search")
    assert [(e, a.action) for e, a in only.actions()] == [("issues", "search")]


def test_execute_returns_an_object(jira: Connector, sim: Sim) -> None:
    me = jira.execute("myself", "get")
    assert isinstance(me.data, dict)
    assert me.data["emailAddress"] == sim.user(0)["email"]
    assert me.next_page_token is None
    assert me.meta["entity"] == "myself" and me.meta["action"] == "get"


def test_execute_returns_an_array_and_pages(jira: Connector) -> None:
    projects = jira.execute("projects", "list")
    assert isinstance(projects.data, list)
    assert PROJECTS <= {p["key"] for p in projects.data}

    first = jira.execute("issues", "search", {"jql": "project = ENG ORDER BY key", "fields": ["summary"], "limit": 3})
    assert isinstance(first.data, list) and len(first.data) == 3
    assert first.next_page_token
    second = jira.execute(
        "issues", "search",
        {"jql": "project = ENG ORDER BY key", "fields": ["summary"], "limit": 3, "page_token": first.next_page_token},
    )
    assert len(second.data) == 3
    assert not {i["key"] for i in first.data} & {i["key"] for i in second.data}


def test_execute_writes_then_reads_back(jira: Connector) -> None:
    made = jira.execute(
        "issues", "create",
        {"project": "OPS", "summary": "Written by the Python client", "issue_type": "Task", "description": "From **pytest**"},
    )
    key = made.data["key"]
    assert key.startswith("OPS-")
    got = jira.execute("issues", "get", {"issue": key, "fields": ["summary"]})
    assert got.data["fields"]["summary"] == "Written by the Python client"


def test_404_for_an_unknown_connector(jg: Jiragate, jira_info: ConnectorInfo) -> None:
    with pytest.raises(NotFoundError) as e:
        jg.connect("jira", workspace_name="w", name="nope")
    assert e.value.status == 404
    assert e.value.kind == "not_found"
    assert e.value.detail and "nope" in e.value.detail


def test_422_for_params_outside_the_schema(jira: Connector) -> None:
    with pytest.raises(InvalidRequestError) as e:
        jira.execute("issues", "search", {"jql": "project = ENG", "limit": 0})
    assert e.value.status == 422
    assert e.value.field == "limit"
    assert e.value.type == "https://jiragate.dev/problems/validation"


def test_missing_scope_of_an_oauth_connection(server: Server) -> None:
    """A connection consented without `write:jira-work` cannot create issues."""
    info = server.oauth_connect(workspace_name="scopes", name="read-only", scopes=["read:jira-user", "read:jira-work"])
    assert "write:jira-work" not in info.scopes
    with server.client() as jg:
        conn = jg.connect("jira", connector_id=info.id)
        assert conn.execute("myself", "get").data["accountId"]
        with pytest.raises(MissingScopeError) as e:
            conn.execute("issues", "create", {"project": "ENG", "summary": "x", "issue_type": "Task"})
    err = e.value
    assert err.status == 403
    assert err.kind == "missing_scope"
    assert err.scope == "write:jira-work"
    assert err.action == "issues.create"
    assert err.hint and "write:jira-work" in err.hint


def test_api_key_without_the_execute_scope(server: Server, jira_info: ConnectorInfo) -> None:
    """The other kind of missing scope: the API key's, answered 403 `forbidden`."""
    key = server.key_with("proxy")
    with server.client(api_key=key) as jg:
        jira = jg.connect("jira", workspace_name="w", name="jira")
        with pytest.raises(PermissionDeniedError) as e:
            jira.execute("myself", "get")
    assert e.value.status == 403
    assert e.value.required_scope == "execute"
