"""The proxy: raw Jira REST with the credential injected; Jira's 429 + Retry-After honoured."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from pathlib import Path

from jiragate import Connector, ConnectorInfo, NotFoundError, RateLimitedError

from .conftest import Server, Sim, start_server, stop


def test_proxy_get_post_and_jira_errors_pass_through(jira: Connector, sim: Sim) -> None:
    me = jira.proxy.get("rest/api/3/myself")
    assert me.status_code == 200
    assert me.json()["emailAddress"] == sim.user(0)["email"]
    assert me.headers["x-jiragate-connector"] == jira.id

    count = jira.proxy.post("rest/api/3/search/approximate-count", json={"jql": "project = ENG"})
    assert count.status_code == 200 and count.json()["count"] > 0

    page = jira.proxy.get("rest/api/3/project/search", params={"maxResults": 2})
    assert page.status_code == 200 and len(page.json()["values"]) == 2

    # Jira's own 404 is Jira's answer, unchanged: a response, not an exception.
    missing = jira.proxy.get("rest/api/3/issue/ENG-999999")
    assert missing.status_code == 404
    assert missing.json()["errorMessages"]


def test_proxy_refusals_of_jiragate_itself_raise(server: Server, jira_info: ConnectorInfo) -> None:
    with server.client() as jg:
        ghost = jg.connect("jira", connector_id=jira_info.id)
        ghost.info = ghost.info.model_copy(update={"id": "no-such-connector"})
        with pytest.raises(NotFoundError):
            ghost.proxy.get("rest/api/3/myself")


@pytest.fixture()
def limited(server: Server, sim: Sim, request: pytest.FixtureRequest) -> Iterator[tuple[Connector, str]]:
    """A connector of its own (second simulated user), so its rate budget is its own."""
    u = sim.user(1)
    with server.client() as jg:
        info = jg.connectors.create(
            workspace_name="limits", name=request.node.name, subdomain=sim.site(0)["subdomain"],
            email=u["email"], api_token=u["api_token"],
        )
        try:
            yield jg.connect("jira", connector_id=info.id), u["api_token"]
        finally:
            sim.control("rate-limit", {"limit": None, "credential": u["api_token"]})
            jg.connectors.delete(info.id)


def _near_window_end(sim: Sim, seconds_left: int) -> None:
    """Moves the simulated clock into a fresh 60-second rate window that ends in about
    `seconds_left` seconds (the Retry-After of a 429 is then that short)."""
    to_end = 60 - sim.now() % 60
    sim.advance(to_end + 60 - seconds_left)


def test_a_spent_budget_is_paced_by_jiragate(limited: tuple[Connector, str], sim: Sim) -> None:
    jira, token = limited
    _near_window_end(sim, 3)
    sim.control("rate-limit", {"limit": 1, "credential": token})
    before = sim.stats()

    assert jira.proxy.get("rest/api/3/myself").status_code == 200  # the window's one request
    started = time.monotonic()
    again = jira.proxy.get("rest/api/3/myself")  # held by jiragate until the next window
    waited = time.monotonic() - started

    after = sim.stats()
    assert again.status_code == 200, again.text
    # The first answer said the budget was spent (X-RateLimit-Remaining: 0): jiragate held the
    # connection until the window reset, so Jira never had to answer 429.
    assert after["rate_limited"] == before["rate_limited"], "no 429 from Jira"
    assert after["retry_after_violations"] == before["retry_after_violations"], "nothing early"
    assert waited >= 0.9, waited


def test_pacing_needs_no_client_retry(server: Server, limited: tuple[Connector, str], sim: Sim) -> None:
    jira, token = limited
    _near_window_end(sim, 3)
    sim.control("rate-limit", {"limit": 1, "credential": token})
    before = sim.stats()
    with server.client(max_retries=0) as jg:
        conn = jg.connect("jira", connector_id=jira.id)
        codes = [conn.proxy.get("rest/api/3/myself").status_code for _ in range(2)]
    assert codes == [200, 200]
    assert sim.stats()["rate_limited"] == before["rate_limited"]


def test_a_429_is_honoured_for_idempotent_calls_only(tmp_path: Path, sim: Sim) -> None:
    """jiragate's own per-key limit (one request, refilled at one per second) answers 429
    with Retry-After: the client waits and retries a GET, never a POST, and not when told not to."""
    server = start_server(tmp_path, sim, {"JIRAGATE_RATE_LIMIT_PER_KEY": "1:1"})
    try:
        with server.client() as jg:
            jg.connectors.list()  # the one request of the burst
            started = time.monotonic()
            jg.connectors.list()  # 429 with Retry-After, then retried
            assert time.monotonic() - started >= 0.9
            time.sleep(1.1)
            jg.connectors.list()
            with pytest.raises(RateLimitedError) as e:
                jg.keys.create(name="not-retried", scopes=["execute"])  # a POST: never retried
            assert e.value.status == 429
        with server.client(max_retries=0) as jg:
            time.sleep(1.1)
            jg.connectors.list()
            with pytest.raises(RateLimitedError):
                jg.connectors.list()
    finally:
        stop(server.proc, signal.SIGTERM)
