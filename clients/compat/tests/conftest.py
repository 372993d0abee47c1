"""Fixtures: the same real `atlassian-sim` + `jiragate serve` stack the Python client's tests
use (clients/python/tests/conftest.py, loaded by path so both suites start it one way), plus the
connections the third-party workloads run on."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]

_spec = importlib.util.spec_from_file_location(
    "jiragate_stack_fixtures", REPO_ROOT / "clients" / "python" / "tests" / "conftest.py"
)
assert _spec and _spec.loader
stackmod = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = stackmod
_spec.loader.exec_module(stackmod)

#: Classic scopes of the OAuth connection: the platform workload plus boards and sprints.
OAUTH_SCOPES = [
    "read:jira-work",
    "write:jira-work",
    "read:jira-user",
    "manage:jira-project",
    "read:board-scope:jira-software",
    "read:project:jira",
    "read:sprint:jira-software",
]


@pytest.fixture(scope="session")
def stack() -> Iterator[Any]:
    yield from stackmod.make_stack("--issues", "200")


@dataclass
class Target:
    """Where a Jira client points and how it authenticates: straight at the simulator with the
    Jira credential, or at jiragate's proxy with a jiragate API key."""

    name: str
    base_url: str
    #: ("basic", email, api_token) or ("bearer", token)
    auth: tuple[str, ...]
    project: str


@dataclass
class Pair:
    direct: Target
    via: Target


def _proxy_base(server: Any, connector_id: str) -> str:
    return f"{server.url}/api/v1/integrations/connectors/{connector_id}/proxy"


@pytest.fixture(scope="session")
def token_pair(stack: Any) -> Pair:
    """An API-token connection, and the simulator site it fronts."""
    sim, server = stack.sim, stack.server
    u, site = sim.user(0), sim.site(0)
    with server.client() as jg:
        info = jg.connectors.create(
            workspace_name="compat",
            name="token",
            subdomain=site["subdomain"],
            email=u["email"],
            api_token=u["api_token"],
        )
    key = server.key_with("proxy")
    project = _first_project(sim, site["subdomain"], u)
    return Pair(
        direct=Target(
            "direct-token",
            str(sim.info["site_url"]).replace("{subdomain}", site["subdomain"]).rstrip("/"),
            ("basic", u["email"], u["api_token"]),
            project,
        ),
        via=Target("jiragate-token", _proxy_base(server, info.id), ("bearer", key), project),
    )


@pytest.fixture(scope="session")
def oauth_pair(stack: Any) -> Pair:
    """An OAuth connection made through the consent flow, and the gateway it calls with the
    same grant's access token (handed out by `/api/v1/credentials/token`)."""
    sim, server = stack.sim, stack.server
    info = server.oauth_connect(workspace_name="compat", name="oauth", scopes=OAUTH_SCOPES)
    cred_key = server.key_with("credentials:read")
    with httpx.Client(timeout=30) as c:
        r = c.post(
            f"{server.url}/api/v1/credentials/token",
            headers={"Authorization": f"Bearer {cred_key}"},
            json={"connector_id": info.id},
        )
    r.raise_for_status()
    tok = r.json()
    key = server.key_with("proxy")
    project = _first_project(sim, sim.site(0)["subdomain"], sim.user(0))
    return Pair(
        direct=Target(
            "direct-oauth",
            str(tok["base_url"]).rstrip("/"),
            ("bearer", tok["access_token"]),
            project,
        ),
        via=Target("jiragate-oauth", _proxy_base(server, info.id), ("bearer", key), project),
    )


def _first_project(sim: Any, subdomain: str, user: dict[str, str]) -> str:
    base = str(sim.info["site_url"]).replace("{subdomain}", subdomain).rstrip("/")
    with httpx.Client(timeout=30, auth=(user["email"], user["api_token"])) as c:
        r = c.get(f"{base}/rest/api/3/project/search", params={"orderBy": "key"})
    r.raise_for_status()
    values = r.json()["values"]
    keys = [p["key"] for p in values]
    return "ENG" if "ENG" in keys else str(keys[0])
