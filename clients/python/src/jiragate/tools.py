"""Tool definitions for agent frameworks, built from a connector's ``describe``.

Each catalog action becomes one tool named ``<entity>_<action>`` whose input schema *is* the
action's ``params_schema`` from the server's catalog (copied at run time, never by hand).
Three wire formats are produced:

* ``openai``: ``{"type": "function", "function": {"name", "description", "parameters"}}``
* ``anthropic``: ``{"name", "description", "input_schema"}``
* ``mcp``: ``{"name", "description", "inputSchema", "annotations": {"readOnlyHint"}}``

A model's tool call (in any of the three shapes) is run with ``Connector.run_tool_call`` and
answered in the shape the framework expects.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import APIError
from .models import ActionDescription, Description, ExecuteResult, ToolFormat

_NAME_OK = re.compile(r"[^A-Za-z0-9_-]")
#: OpenAI and Anthropic both cap tool names at 64 characters.
MAX_NAME = 64


def tool_name(entity: str, action: str) -> str:
    """``issues.search`` -> ``issues_search`` (characters outside ``[A-Za-z0-9_-]`` become ``_``)."""
    return _NAME_OK.sub("_", f"{entity}_{action}")[:MAX_NAME]


def input_schema(params_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The catalog schema as a tool input schema: an object schema, without ``$schema``/``title``."""
    schema = copy.deepcopy(dict(params_schema))
    schema.pop("$schema", None)
    schema.pop("title", None)
    schema.setdefault("type", "object")
    if schema.get("type") == "object":
        schema.setdefault("properties", {})
    return schema


@dataclass(frozen=True)
class Tool:
    """One catalog action as a tool."""

    name: str
    entity: str
    action: str
    description: str
    read_only: bool
    schema: dict[str, Any]

    def definition(self, format: ToolFormat) -> dict[str, Any]:
        if format == "openai":
            return {
                "type": "function",
                "function": {
                    "name": self.name,
                    "description": self.description,
                    "parameters": copy.deepcopy(self.schema),
                },
            }
        if format == "anthropic":
            return {
                "name": self.name,
                "description": self.description,
                "input_schema": copy.deepcopy(self.schema),
            }
        if format == "mcp":
            return {
                "name": self.name,
                "description": self.description,
                "inputSchema": copy.deepcopy(self.schema),
                "annotations": {"readOnlyHint": self.read_only},
            }
        raise ValueError(f"unknown tool format {format!r}; use openai, anthropic or mcp")


def _describe_text(entity: str, a: ActionDescription) -> str:
    text = a.description.strip() or f"{entity}.{a.action}"
    if a.result:
        text += f" Returns: {a.result}"
    if a.pagination not in ("", "none"):
        text += " Paged: pass next_page_token back as page_token for the next page."
    return text


class Toolset:
    """The tools of one connector (optionally narrowed), by name."""

    def __init__(
        self,
        description: Description,
        *,
        actions: Iterable[str] | None = None,
        filter: str | None = None,
        read_only: bool = False,
    ) -> None:
        wanted = set(actions) if actions is not None else None
        needle = filter.lower() if filter else None
        self.tools: dict[str, Tool] = {}
        for entity, a in description.actions():
            full = f"{entity}.{a.action}"
            if wanted is not None and full not in wanted:
                continue
            if needle and needle not in full.lower() and needle not in a.description.lower():
                continue
            if read_only and not a.read_only:
                continue
            t = Tool(
                name=tool_name(entity, a.action),
                entity=entity,
                action=a.action,
                description=_describe_text(entity, a),
                read_only=a.read_only,
                schema=input_schema(a.params_schema),
            )
            if t.name in self.tools:
                raise ValueError(f"two catalog actions map to the tool name {t.name!r}")
            self.tools[t.name] = t
        if wanted is not None:
            missing = wanted - {f"{t.entity}.{t.action}" for t in self.tools.values()}
            if missing:
                raise KeyError(f"not in the catalog (or filtered out): {sorted(missing)}")

    def __len__(self) -> int:
        return len(self.tools)

    def __iter__(self) -> Any:
        return iter(self.tools.values())

    def definitions(self, format: ToolFormat = "openai") -> list[dict[str, Any]]:
        return [t.definition(format) for t in self.tools.values()]

    def get(self, name: str) -> Tool:
        try:
            return self.tools[name]
        except KeyError:
            raise KeyError(f"unknown tool {name!r}") from None


@dataclass(frozen=True)
class ToolCall:
    """A model's request to run a tool, whatever the framework's shape."""

    id: str | None
    name: str
    arguments: dict[str, Any]
    format: ToolFormat


def parse_tool_call(call: Mapping[str, Any] | Any) -> ToolCall:
    """Accepts an OpenAI tool call (``{"id", "function": {"name", "arguments"}}``), an
    Anthropic ``tool_use`` block (``{"id", "name", "input"}``) or an MCP ``tools/call`` params
    object (``{"name", "arguments"}``); objects with the same attributes work too."""
    if not isinstance(call, Mapping):
        if hasattr(call, "model_dump"):
            call = call.model_dump()
        else:
            call = {k: getattr(call, k) for k in ("id", "type", "name", "input", "function", "arguments") if hasattr(call, k)}
    fn = call.get("function")
    if fn is not None:
        if not isinstance(fn, Mapping):
            fn = {"name": getattr(fn, "name", None), "arguments": getattr(fn, "arguments", None)}
        return ToolCall(call.get("id"), str(fn["name"]), _args(fn.get("arguments")), "openai")
    if "input" in call:
        return ToolCall(call.get("id"), str(call["name"]), _args(call["input"]), "anthropic")
    return ToolCall(call.get("id"), str(call["name"]), _args(call.get("arguments")), "mcp")


def _args(raw: Any) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, Mapping):
        raise ValueError("tool arguments must be a JSON object")
    return dict(raw)


def result_text(result: ExecuteResult) -> str:
    """What a model reads back: ``data`` and, when there is one, the next page token."""
    out: dict[str, Any] = {"data": result.data}
    if result.next_page_token:
        out["next_page_token"] = result.next_page_token
    return json.dumps(out, ensure_ascii=False, default=str)


def error_text(err: APIError) -> str:
    doc: dict[str, Any] = {"error": err.kind or "error", "status": err.status, "detail": err.detail}
    if err.field:
        doc["field"] = err.field
    for key in ("upstream_status", "messages", "scope", "required_scope"):
        if err.extensions.get(key):
            doc[key] = err.extensions[key]
    if err.hint:
        doc["hint"] = err.hint
    return json.dumps(doc, ensure_ascii=False)


def tool_result(call: ToolCall, text: str, is_error: bool) -> dict[str, Any]:
    """The answer to ``call`` in its framework's shape."""
    if call.format == "openai":
        return {"role": "tool", "tool_call_id": call.id, "content": text}
    if call.format == "anthropic":
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call.id, "content": text}
        if is_error:
            block["is_error"] = True
        return block
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


__all__ = [
    "Tool",
    "ToolCall",
    "Toolset",
    "error_text",
    "input_schema",
    "parse_tool_call",
    "result_text",
    "tool_name",
    "tool_result",
]
