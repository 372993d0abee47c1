"""The README's quick start, run as a test (the README shows the lines between the markers)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .conftest import Server, Sim


def test_quickstart(server: Server, sim: Sim, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JIRAGATE_URL", server.url)
    monkeypatch.setenv("JIRAGATE_API_KEY", server.admin_key)
    email, api_token = sim.user(0)["email"], sim.user(0)["api_token"]
    # quickstart:start
    from jiragate import Jiragate

    jg = Jiragate()  # JIRAGATE_URL and JIRAGATE_API_KEY from the environment
    jg.connectors.create(workspace_name="quickstart", name="jira", subdomain="acme", email=email, api_token=api_token)
    jira = jg.connect("jira", workspace_name="quickstart", name="jira")
    print(jira.execute("myself", "get").data["displayName"])
    for issue in jira.stream("issues", "search", {"jql": "project = ENG", "fields": ["summary"]}):
        print(issue["key"], issue["fields"]["summary"])
    tools = jira.as_tools(format="openai", actions=["issues.search", "issues.get"])
    # quickstart:end
    lines = capsys.readouterr().out.splitlines()
    count = jira.execute("issues", "count", {"jql": "project = ENG"}).data["count"]
    assert len(lines) == 1 + count and count > 100
    assert lines[0] and lines[1].startswith("ENG-")
    assert [t["function"]["name"] for t in tools] == ["issues_search", "issues_get"]
    jg.close()


def test_readme_shows_the_quickstart() -> None:
    src = Path(__file__).read_text().split("# quickstart:start\n")[1].split("    # quickstart:end")[0]
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert textwrap.dedent(src) in readme
