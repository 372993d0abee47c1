"""Plain Python callables for agent frameworks (Pydantic AI, LangChain, ...), built from the
catalog.

Frameworks that turn functions into tools read a function's name, docstring, signature and
annotations. :func:`action_tool` builds such a function for one catalog action: its parameters
(names, types, which are required), its docstring (the action's description and each param's
description) and its ``json_schema`` attribute all come from ``describe``, never from
hand-written copies. No framework is imported here::

    from jiragate.tool_utils import action_tool, jiragate_tool

    search = action_tool(connector, "issues", "search")   # search(jql=..., limit=...) -> data
    agent = pydantic_ai.Agent(model, tools=[search])       # or langchain's StructuredTool.from_function(search)

    @jiragate_tool(connector, "issues", "search")
    def issue_keys(result: ExecuteResult) -> list[str]:    # shape the answer for the model
        return [i["key"] for i in result.data]

With an :class:`~jiragate.aio.AsyncConnector` the callables are coroutine functions (call
``await connector.describe()`` once first, or pass ``description=``).
"""

from __future__ import annotations

import inspect
import keyword
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Optional, TypeVar, Union, cast

from .aio import AsyncConnector
from .client import Connector
from .models import Description, ExecuteResult
from .tools import Tool, Toolset, input_schema, tool_name

R = TypeVar("R")

_SIMPLE: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "object": dict[str, Any],
}


def annotation_for(schema: Mapping[str, Any]) -> Any:
    """A Python annotation for a JSON Schema (best effort; ``Any`` where nothing fits)."""
    if "enum" in schema and isinstance(schema["enum"], list):
        values = tuple(v for v in schema["enum"] if v is not None)
        if values and all(isinstance(v, (str, int, bool)) for v in values):
            lit: Any = Literal.__getitem__(values)
            return Optional[lit] if None in schema["enum"] else lit
    t = schema.get("type")
    types = t if isinstance(t, list) else [t] if isinstance(t, str) else []
    nullable = "null" in types
    types = [x for x in types if x != "null"]
    if not types:
        for key in ("anyOf", "oneOf"):
            alts = schema.get(key)
            if isinstance(alts, list):
                non_null = [a for a in alts if isinstance(a, Mapping) and a.get("type") != "null"]
                if len(non_null) < len(alts):
                    nullable = True
                if len(non_null) == 1:
                    inner = annotation_for(non_null[0])
                    return Optional[inner] if nullable else inner
        return Any
    parts: list[Any] = []
    for x in types:
        if x == "array":
            items = schema.get("items")
            parts.append(list[annotation_for(items)] if isinstance(items, Mapping) else list[Any])  # type: ignore[misc]
        else:
            parts.append(_SIMPLE.get(x, Any))
    ann: Any = parts[0] if len(parts) == 1 else Union.__getitem__(tuple(parts))
    return Optional[ann] if nullable else ann


def _py_name(name: str, taken: set[str]) -> str:
    out = re.sub(r"\W", "_", name)
    if not out or out[0].isdigit():
        out = f"p_{out}"
    if keyword.iskeyword(out):
        out += "_"
    while out in taken:
        out += "_"
    taken.add(out)
    return out


def _docstring(tool: Tool) -> str:
    lines = [tool.description.strip()]
    props = tool.schema.get("properties") or {}
    if props:
        lines += ["", "Args:"]
        for name, sub in props.items():
            desc = sub.get("description", "") if isinstance(sub, Mapping) else ""
            lines.append(f"    {name}: {' '.join(str(desc).split()) or name}")
    return "\n".join(lines)


def _signature(tool: Tool) -> tuple[inspect.Signature, dict[str, str]]:
    props: Mapping[str, Any] = tool.schema.get("properties") or {}
    required = set(tool.schema.get("required") or [])
    taken: set[str] = set()
    renames: dict[str, str] = {}
    req_params: list[inspect.Parameter] = []
    opt_params: list[inspect.Parameter] = []
    for name, sub in props.items():
        py = _py_name(name, taken)
        renames[py] = name
        ann = annotation_for(sub if isinstance(sub, Mapping) else {})
        if name in required:
            req_params.append(inspect.Parameter(py, inspect.Parameter.KEYWORD_ONLY, annotation=ann))
        else:
            opt = ann if ann is Any else Optional[ann]
            opt_params.append(
                inspect.Parameter(py, inspect.Parameter.KEYWORD_ONLY, annotation=opt, default=None)
            )
    return inspect.Signature(req_params + opt_params, return_annotation=Any), renames


def _params(renames: Mapping[str, str], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(kwargs) - set(renames)
    if unknown:
        raise TypeError(f"unexpected arguments: {sorted(unknown)}")
    return {renames[k]: v for k, v in kwargs.items() if v is not None}


def _find(description: Description, entity: str, action: str) -> Tool:
    ts = Toolset(description, actions=[f"{entity}.{action}"])
    return ts.get(tool_name(entity, action))


def _description_of(connector: Connector | AsyncConnector, description: Description | None) -> Description:
    if description is not None:
        return description
    if isinstance(connector, Connector):
        return connector.describe()
    cached = connector._description
    if cached is None:
        raise RuntimeError("call `await connector.describe()` first, or pass description=")
    return cached


def _decorate(fn: Any, tool: Tool, name: str | None, sig: inspect.Signature) -> None:
    fn.__name__ = name or tool.name
    fn.__qualname__ = fn.__name__
    fn.__doc__ = _docstring(tool)
    fn.__signature__ = sig
    fn.__annotations__ = {p.name: p.annotation for p in sig.parameters.values()} | {"return": sig.return_annotation}
    fn.json_schema = tool.schema
    fn.entity = tool.entity
    fn.action = tool.action
    fn.read_only = tool.read_only


def wrap_action(
    connector: Connector | AsyncConnector,
    entity: str,
    action: str,
    shape: Callable[[ExecuteResult], Any],
    *,
    name: str | None = None,
    description: Description | None = None,
) -> Callable[..., Any]:
    """A callable that runs ``entity.action`` with keyword arguments and returns
    ``shape(result)``; sync for :class:`Connector`, a coroutine function for
    :class:`AsyncConnector`."""
    tool = _find(_description_of(connector, description), entity, action)
    sig, renames = _signature(tool)
    fn: Any
    if isinstance(connector, AsyncConnector):
        aconn = connector

        async def afn(**kwargs: Any) -> Any:
            result = await aconn.execute(entity, action, _params(renames, kwargs), read_only=tool.read_only)
            out = shape(result)
            return await out if inspect.isawaitable(out) else out

        fn = afn
    else:
        sconn = connector

        def sfn(**kwargs: Any) -> Any:
            return shape(sconn.execute(entity, action, _params(renames, kwargs), read_only=tool.read_only))

        fn = sfn
    _decorate(fn, tool, name, sig)
    return cast(Callable[..., Any], fn)


def _data(result: ExecuteResult) -> Any:
    if result.next_page_token:
        return {"data": result.data, "next_page_token": result.next_page_token}
    return result.data


def action_tool(
    connector: Connector | AsyncConnector,
    entity: str,
    action: str,
    *,
    name: str | None = None,
    description: Description | None = None,
) -> Callable[..., Any]:
    """``entity.action`` as a plain function; it returns the action's ``data`` (and
    ``next_page_token`` beside it when there are more pages)."""
    return wrap_action(connector, entity, action, _data, name=name, description=description)


def jiragate_tool(
    connector: Connector | AsyncConnector,
    entity: str,
    action: str,
    *,
    name: str | None = None,
    description: Description | None = None,
) -> Callable[[Callable[[ExecuteResult], R]], Callable[..., R]]:
    """Decorator: the decorated function receives the :class:`ExecuteResult` and shapes what the
    model sees; the resulting tool takes the catalog's params (signature and docstring from
    ``describe``). Its own name is kept unless ``name=`` is given."""

    def deco(fn: Callable[[ExecuteResult], R]) -> Callable[..., R]:
        wrapped = wrap_action(connector, entity, action, fn, name=name or fn.__name__, description=description)
        if fn.__doc__:
            wrapped.__doc__ = fn.__doc__.strip() + "\n\n" + (wrapped.__doc__ or "")
        return cast(Callable[..., R], wrapped)

    return deco


def action_tools(
    connector: Connector | AsyncConnector,
    *,
    actions: Iterable[str] | None = None,
    filter: str | None = None,
    read_only: bool = False,
    description: Description | None = None,
) -> list[Callable[..., Any]]:
    """:func:`action_tool` for every action of the (narrowed) catalog."""
    d = _description_of(connector, description)
    ts = Toolset(d, actions=actions, filter=filter, read_only=read_only)
    return [action_tool(connector, t.entity, t.action, description=d) for t in ts]


__all__ = [
    "action_tool",
    "action_tools",
    "annotation_for",
    "input_schema",
    "jiragate_tool",
    "wrap_action",
]
