"""Python `jira` (pycontribs) and npm `jira.js`, unchanged, through jiragate's proxy.

Each client runs the same workload twice in one test: straight at the simulator with the Jira
credential (the baseline), and at the proxy base of a jiragate connection with a jiragate API
key. Through jiragate, no step may fail that does not fail the same way directly, and the
values read back must be equal. A step that fails both ways is a gap of the client or the
simulator, not of jiragate: they are listed in KNOWN_GAPS, and the test fails if the list goes
stale either way.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Pair
from workload import ATTACHMENT, jirajs, pycontribs

STEPS = [
    "myself",
    "projects",
    "get",
    "search",
    "create",
    "update",
    "comment_add",
    "comment_update",
    "comment_delete",
    "transitions",
    "attachment_upload",
    "attachment_download",
    "boards",
    "sprints",
    "delete",
]

#: Steps that fail straight against the simulator too: (client, connection kind) -> steps.
KNOWN_GAPS: dict[tuple[str, str], set[str]] = {}


def expected(project: str) -> dict[str, Any]:
    """What the write steps must read back (the read steps are compared between the runs)."""
    return {
        "create": (project, "made by a third-party client"),
        "update": "compat: updated",
        "comment_add": "first words",
        "comment_update": "second words",
        "comment_delete": 0,
        "transitions": True,
        "attachment_upload": ("compat.bin", len(ATTACHMENT)),
        "attachment_download": True,
    }


def check_parity(client: str, kind: str, project: str, direct: dict[str, tuple[str, Any]], via: dict[str, tuple[str, Any]]) -> None:
    for s in STEPS:
        assert s in direct and s in via, (s, direct, via)
    report = "\n".join(f"  {s:20} direct={direct[s]!r:60.60} jiragate={via[s]!r:60.60}" for s in STEPS)
    for s in STEPS:
        assert via[s] == direct[s], f"{client}/{kind}: step {s} differs\n{report}"
    failing = {s for s in STEPS if direct[s][0] != "ok"}
    assert failing == KNOWN_GAPS.get((client, kind), set()), f"{client}/{kind}: failing both ways\n{report}"
    # not vacuous: what was written is what is read back, and a deleted issue is gone
    for s, value in expected(project).items():
        if s not in failing:
            assert _plain(via[s][1]) == _plain(value), f"{client}/{kind}: step {s}\n{report}"
    if "delete" not in failing:
        assert "404" in str(via["delete"][1]), report
    assert sum(direct[s][0] == "ok" for s in STEPS) >= 12, report


def _plain(v: Any) -> Any:
    return list(map(_plain, v)) if isinstance(v, (list, tuple)) else v


@pytest.mark.parametrize("kind", ["token", "oauth"])
def test_pycontribs_jira_through_the_proxy(kind: str, request: pytest.FixtureRequest) -> None:
    pair: Pair = request.getfixturevalue(f"{kind}_pair")
    direct, via = pycontribs(pair.direct), pycontribs(pair.via)
    assert via["connect"] == direct["connect"] == ("ok", "connected"), (direct["connect"], via["connect"])
    check_parity("pycontribs", kind, pair.via.project, direct, via)


@pytest.mark.parametrize("kind", ["token", "oauth"])
def test_jirajs_through_the_proxy(kind: str, request: pytest.FixtureRequest) -> None:
    pair: Pair = request.getfixturevalue(f"{kind}_pair")
    direct, via = jirajs(pair.direct), jirajs(pair.via)
    check_parity("jira.js", kind, pair.via.project, direct, via)


def test_targets_differ(token_pair: Pair, oauth_pair: Pair) -> None:
    """The baseline and the jiragate run really go different ways (guards the fixtures)."""
    for p in (token_pair, oauth_pair):
        assert p.direct.base_url != p.via.base_url
        assert "/proxy" in p.via.base_url and "/proxy" not in p.direct.base_url
        assert p.via.auth[0] == "bearer" and p.via.auth[1].startswith("jg_")
