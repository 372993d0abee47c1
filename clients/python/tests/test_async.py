"""The async client: the same calls with await and async iterators."""

from __future__ import annotations

import asyncio
import json

import pytest

from jiragate import AsyncJiragate, ConnectorInfo, InvalidRequestError, NotFoundError

from .conftest import Server


def test_async_client_end_to_end(server: Server, jira_info: ConnectorInfo) -> None:
    async def main() -> None:
        async with AsyncJiragate(url=server.url, api_key=server.admin_key) as jg:
            jira = await jg.connect("jira", workspace_name="w", name="jira")
            assert jira.id == jira_info.id
            assert (await jira.check()).status == "healthy"

            d = await jira.describe()
            assert d.action("issues", "search").read_only

            me = await jira.execute("myself", "get")
            assert isinstance(me.data, dict) and me.data["accountId"]

            count = (await jira.execute("issues", "count", {"jql": "project = OPS"})).data["count"]
            seen = 0
            async for issue in jira.stream("issues", "search", {"jql": "project = OPS", "fields": ["summary"]}, page_size=100):
                assert issue["key"].startswith("OPS-")
                seen += 1
            assert seen == count > 100

            r = await jira.proxy.get("rest/api/3/myself")
            assert r.status_code == 200 and r.json()["accountId"] == me.data["accountId"]

            tools = await jira.as_tools("anthropic", actions=["issues.count"])
            assert tools[0]["name"] == "issues_count"
            out = await jira.run_tool_call({"type": "tool_use", "id": "t1", "name": "issues_count", "input": {"jql": "project = OPS"}})
            assert json.loads(out["content"])["data"]["count"] == count

            with pytest.raises(NotFoundError):
                await jg.connect("jira", workspace_name="w", name="nope")
            with pytest.raises(InvalidRequestError) as e:
                await jira.execute("issues", "search", {"jql": "project = OPS", "limit": 0})
            assert e.value.field == "limit"

            # Concurrent calls share one client.
            pages = await asyncio.gather(*[
                jira.execute("issues", "search", {"jql": f"project = {p}", "limit": 1}) for p in ("ENG", "OPS", "MKT")
            ])
            assert [len(p.data) for p in pages] == [1, 1, 1]

    asyncio.run(main())
