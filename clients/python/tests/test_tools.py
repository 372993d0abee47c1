"""Agent tools from describe: definitions in three formats, a scripted model's tool calls run
against the real server, and plain callables for function-based frameworks."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pydantic

from jiragate import Connector, ExecuteResult
from jiragate.tool_utils import action_tool, action_tools, jiragate_tool
from jiragate.tools import input_schema


class ScriptedModel:
    """Stands in for an LLM that speaks OpenAI-style tool calling. It reads the tool list it is
    given (so a tool missing or shaped differently makes it fail), asks for the issues of a
    project, corrects itself once when the tool reports an invalid argument, and answers with
    what the tool returned."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.calls = 0

    def _arguments(self, tool: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
        params = tool["function"]["parameters"]
        props = params["properties"]
        args = {k: v for k, v in wanted.items() if k in props}
        missing = set(params.get("required", [])) - set(args)
        assert not missing, f"the model cannot fill {missing}"
        return args

    def respond(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        by_name = {t["function"]["name"]: t for t in tools}
        search = by_name["issues_search"]
        results = [m for m in messages if m.get("role") == "tool"]
        if not results or json.loads(results[-1]["content"]).get("error"):
            # First try asks for zero issues (invalid); the second, after the error, for five.
            limit = 0 if not results else 5
            self.calls += 1
            args = self._arguments(search, {"jql": f"project = {self.project} ORDER BY key", "limit": limit, "fields": ["summary"]})
            return {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": f"call_{self.calls}", "type": "function",
                                "function": {"name": "issues_search", "arguments": json.dumps(args)}}],
            }
        data = json.loads(results[-1]["content"])["data"]
        return {"role": "assistant", "content": "Issues: " + ", ".join(i["key"] for i in data)}


def test_as_tools_formats_carry_the_catalog_schemas(jira: Connector) -> None:
    d = jira.describe()
    catalog = {f"{e}_{a.action}": (e, a) for e, a in d.actions()}
    openai = jira.as_tools("openai")
    anthropic = jira.as_tools("anthropic")
    mcp = jira.as_tools("mcp")
    assert len(openai) == len(anthropic) == len(mcp) == d.action_count

    for t in openai:
        fn = t["function"]
        entity, action = catalog[fn["name"]]
        assert t["type"] == "function"
        assert fn["parameters"] == input_schema(action.params_schema)
        assert fn["parameters"]["type"] == "object"
        assert action.description in fn["description"]
    for t in anthropic:
        assert t["input_schema"] == input_schema(catalog[t["name"]][1].params_schema)
    for t in mcp:
        _, action = catalog[t["name"]]
        assert t["inputSchema"] == input_schema(action.params_schema)
        assert t["annotations"]["readOnlyHint"] is action.read_only

    narrowed = jira.as_tools("anthropic", actions=["issues.search", "issues.get"])
    assert sorted(t["name"] for t in narrowed) == ["issues_get", "issues_search"]
    reads = jira.as_tools("mcp", read_only=True)
    assert reads and all(t["annotations"]["readOnlyHint"] for t in reads)
    assert len(reads) < len(mcp)


def test_scripted_model_tool_calls_run_against_the_server(jira: Connector) -> None:
    tools = jira.as_tools("openai")
    model = ScriptedModel("ENG")
    messages: list[dict[str, Any]] = [{"role": "user", "content": "List five ENG issues"}]
    for _ in range(5):
        reply = model.respond(messages, tools)
        messages.append(reply)
        if not reply.get("tool_calls"):
            break
        for call in reply["tool_calls"]:
            messages.append(jira.run_tool_call(call))
    else:
        raise AssertionError("the conversation did not end")

    tool_msgs = [m for m in messages if m.get("role") == "tool"]
    assert len(tool_msgs) == 2
    first_error = json.loads(tool_msgs[0]["content"])
    assert first_error["error"] == "validation" and first_error["field"] == "limit"
    assert tool_msgs[0]["tool_call_id"] == "call_1"

    expected = jira.execute("issues", "search", {"jql": "project = ENG ORDER BY key", "limit": 5})
    keys = [i["key"] for i in expected.data]
    assert len(keys) == 5
    assert messages[-1]["content"] == "Issues: " + ", ".join(keys)


def test_anthropic_and_mcp_tool_calls(jira: Connector) -> None:
    block = {"type": "tool_use", "id": "toolu_1", "name": "myself_get", "input": {}}
    out = jira.run_tool_call(block)
    assert out["type"] == "tool_result" and out["tool_use_id"] == "toolu_1"
    assert json.loads(out["content"])["data"]["accountId"]

    mcp = jira.run_tool_call({"name": "issues_get", "arguments": {"issue": "ENG-999999"}})
    assert mcp["isError"] is True
    doc = json.loads(mcp["content"][0]["text"])
    # A missing issue is the caller's mistake, not an outage: not_found, with Jira's status.
    assert doc["error"] == "not_found" and doc["status"] == 404
    assert doc["upstream_status"] == 404, "Jira's own status reaches the model"

    unknown = jira.run_tool_call({"name": "no_such_tool", "arguments": {}})
    assert unknown["isError"] is True

    result = jira.call_tool("issues_count", {"jql": "project = ENG"})
    assert result.data["count"] > 0


def test_action_tool_is_a_plain_typed_function(jira: Connector) -> None:
    search = action_tool(jira, "issues", "search")
    assert search.__name__ == "issues_search"
    sig = inspect.signature(search)
    assert sig.parameters["jql"].default is inspect.Parameter.empty, "required by the catalog"
    assert sig.parameters["jql"].annotation is str
    assert sig.parameters["limit"].default is None
    desc = jira.describe().action("issues", "search")
    assert search.__doc__ and desc.description in search.__doc__
    assert "jql:" in search.__doc__
    assert getattr(search, "json_schema") == input_schema(desc.params_schema)

    # What function-based frameworks (LangChain, Pydantic AI) do with a function: build a
    # pydantic model from its signature. The model's fields are the catalog's params.
    fields: dict[str, Any] = {
        name: (p.annotation, ... if p.default is inspect.Parameter.empty else p.default)
        for name, p in sig.parameters.items()
    }
    Args = pydantic.create_model("Args", **fields)
    schema = Args.model_json_schema()
    assert set(schema["properties"]) == set(desc.params_schema["properties"])
    assert set(schema.get("required", [])) == set(desc.params_schema.get("required", []))
    validated = pydantic.validate_call(search)
    page = validated(jql="project = ENG ORDER BY key", limit=2)
    assert len(page["data"]) == 2 and page["next_page_token"]

    @jiragate_tool(jira, "issues", "search")
    def eng_issue_keys(result: ExecuteResult) -> list[str]:
        """Keys of the matching issues."""
        return [i["key"] for i in result.data]

    assert eng_issue_keys.__name__ == "eng_issue_keys"
    assert "jql" in inspect.signature(eng_issue_keys).parameters
    keys = eng_issue_keys(jql="project = ENG ORDER BY key", limit=3)
    assert keys == [i["key"] for i in page["data"]] + [keys[2]] and len(keys) == 3

    reads = action_tools(jira, filter="issues", read_only=True)
    assert {f.__name__ for f in reads} >= {"issues_search", "issues_get", "issues_count"}
    assert all(getattr(f, "read_only") for f in reads)
