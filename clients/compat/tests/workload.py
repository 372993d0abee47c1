"""The third-party workload: the calls a Jira integration makes, written once per client.

Each step's outcome is ``("ok", value)`` with a value that must be the same whichever way the
client went (straight to the simulator, or through jiragate's proxy), or ``("error", why)``.
A step whose input comes from a failed step is ``("skipped", step)``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import Target

HERE = Path(__file__).resolve().parent
Outcome = tuple[str, Any]

ATTACHMENT = b"jiragate compat attachment\x00\x01\x02 binary tail \xff"


def adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def adf_text(doc: Any) -> str:
    """The text of an ADF document (a dict, or pycontribs' PropertyHolder of one)."""
    if hasattr(doc, "raw"):
        doc = doc.raw
    if not isinstance(doc, dict):
        doc = json.loads(json.dumps(doc, default=lambda o: o.__dict__))
    out: list[str] = []

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            if n.get("type") == "text":
                out.append(str(n.get("text", "")))
            for c in n.get("content", []) or []:
                walk(c)

    walk(doc)
    return "".join(out)


def why(e: BaseException) -> str:
    status = getattr(e, "status_code", None) or getattr(getattr(e, "response", None), "status_code", None)
    return f"{type(e).__name__}{f' {status}' if status else ''}"


class Steps:
    def __init__(self) -> None:
        self.out: dict[str, Outcome] = {}

    def run(self, name: str, fn: Callable[[], Any], *needs: str) -> Any:
        for n in needs:
            if self.out.get(n, ("error", ""))[0] != "ok":
                self.out[name] = ("skipped", n)
                return None
        try:
            value = fn()
        except Exception as e:  # a client's failure is the step's outcome
            self.out[name] = ("error", why(e))
            return None
        self.out[name] = ("ok", value)
        return value


def pycontribs(t: Target) -> dict[str, Outcome]:
    """Python `jira` (pycontribs) against `t`, REST v3 (its default is v2)."""
    from jira import JIRA

    s = Steps()
    kw: dict[str, Any] = {}
    if t.auth[0] == "basic":
        kw["basic_auth"] = (t.auth[1], t.auth[2])
    else:
        kw["token_auth"] = t.auth[1]
    holder: dict[str, Any] = {}

    def connect() -> str:
        holder["jira"] = JIRA(
            server=t.base_url,
            options={"rest_api_version": "3", "check_update": False},
            timeout=30,
            max_retries=0,
            **kw,
        )
        return "connected"

    s.run("connect", connect)
    j: Any = holder.get("jira")
    s.run("myself", lambda: j.myself()["accountId"], "connect")
    s.run("projects", lambda: sorted(p.key for p in j.projects()), "connect")
    s.run("get", lambda: (lambda i: (i.key, i.fields.summary))(j.issue(f"{t.project}-1")), "connect")
    s.run(
        "search",
        lambda: [i.key for i in j.enhanced_search_issues(f"project = {t.project} ORDER BY key", maxResults=5)],
        "connect",
    )

    def create() -> Any:
        new = j.create_issue(
            fields={
                "project": {"key": t.project},
                "summary": "compat: created",
                "issuetype": {"name": "Task"},
                "description": adf("made by a third-party client"),
            }
        )
        holder["issue"] = new
        back = j.issue(new.key)
        return (new.key.split("-")[0], adf_text(back.fields.description))

    s.run("create", create, "connect")

    def update() -> Any:
        holder["issue"].update(summary="compat: updated")
        return j.issue(holder["issue"].key).fields.summary

    s.run("update", update, "create")

    def comment_add() -> Any:
        c = j.add_comment(holder["issue"], adf("first words"))
        holder["comment"] = c
        return adf_text(j.comment(holder["issue"].key, c.id).body)

    s.run("comment_add", comment_add, "create")

    def comment_update() -> Any:
        holder["comment"].update(body=adf("second words"))
        return adf_text(j.comment(holder["issue"].key, holder["comment"].id).body)

    s.run("comment_update", comment_update, "comment_add")

    def comment_delete() -> Any:
        holder["comment"].delete()
        return len(j.comments(holder["issue"].key))

    s.run("comment_delete", comment_delete, "comment_add")

    def transition() -> Any:
        ts = j.transitions(holder["issue"])
        target = ts[-1]
        j.transition_issue(holder["issue"], target["id"])
        return j.issue(holder["issue"].key).fields.status.name == target["to"]["name"]

    s.run("transitions", transition, "create")

    def attach() -> Any:
        att = j.add_attachment(holder["issue"], io.BytesIO(ATTACHMENT), filename="compat.bin")
        holder["attachment"] = att
        return (att.filename, att.size)

    s.run("attachment_upload", attach, "create")
    s.run("attachment_download", lambda: holder["attachment"].get() == ATTACHMENT, "attachment_upload")

    def boards() -> Any:
        bs = j.boards()
        holder["board"] = bs[0].id
        return sorted(b.name for b in bs)

    s.run("boards", boards, "connect")
    s.run("sprints", lambda: sorted(sp.name for sp in j.sprints(holder["board"])), "boards")

    def delete() -> Any:
        holder["issue"].delete()
        try:
            j.issue(holder["issue"].key)
        except Exception as e:
            return why(e)
        return "still there"

    s.run("delete", delete, "create")
    return s.out


def jirajs(t: Target) -> dict[str, Outcome]:
    """npm `jira.js` against `t` (a Node script: tests/jirajs-workload.mjs)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "COMPAT_BASE_URL": t.base_url,
        "COMPAT_AUTH": json.dumps(list(t.auth)),
        "COMPAT_PROJECT": t.project,
        "COMPAT_ATTACHMENT_HEX": ATTACHMENT.hex(),
    }
    p = subprocess.run(
        ["node", str(HERE / "jirajs-workload.mjs")],
        cwd=HERE.parent,
        env=env,
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    if p.returncode != 0:
        raise RuntimeError(f"jira.js workload exited {p.returncode}:\n{p.stderr.decode(errors='replace')[-4000:]}")
    raw: dict[str, list[Any]] = json.loads(p.stdout.decode().strip().splitlines()[-1])
    return {k: (v[0], _tuples(v[1])) for k, v in raw.items()}


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v
