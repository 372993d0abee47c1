"""stream(): every item of every page, fetched lazily, one page in memory at a time."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import httpx

from jiragate import Connector, ConnectorInfo, Jiragate

from .conftest import ISSUES_PER_SITE, Server

JQL = "project in (ENG, OPS, MKT, HELP) ORDER BY key"


def approximate_count(jira: Connector, jql: str) -> int:
    r = jira.proxy.post("rest/api/3/search/approximate-count", json={"jql": jql})
    assert r.status_code == 200, r.text
    count: int = r.json()["count"]
    return count


def test_stream_every_issue_of_5000(jira: Connector) -> None:
    expected = approximate_count(jira, JQL)
    # Issues created by other tests of this run land in these projects too.
    assert expected >= ISSUES_PER_SITE

    keys: set[str] = set()
    n = 0
    for issue in jira.stream("issues", "search", {"jql": JQL, "fields": ["summary"]}, page_size=100):
        n += 1
        keys.add(issue["key"])
    assert n == expected
    assert len(keys) == n, "no issue twice across pages"


def test_stream_is_lazy_and_holds_one_page(server: Server, jira_info: ConnectorInfo) -> None:
    sent: list[str] = []

    def record(request: httpx.Request) -> None:
        sent.append(request.url.path)

    http = httpx.Client(event_hooks={"request": [record]})
    with server.client(http_client=http) as jg:
        jira = jg.connect("jira", connector_id=jira_info.id)
        sent.clear()
        it = jira.stream("issues", "search", {"jql": JQL, "fields": ["summary"]}, page_size=100)
        assert sent == [], "nothing is fetched before the first item is asked for"
        first = next(it)
        assert first["key"]
        assert len(sent) == 1, "one page fetched for the first item"
        for _ in range(99):
            next(it)
        assert len(sent) == 1, "the first page serves its 100 items"
        next(it)
        assert len(sent) == 2, "the second page is fetched only when needed"

        # Constant memory: streaming everything peaks far below holding every issue at once.
        def peak(run: Any) -> int:
            gc.collect()
            tracemalloc.start()
            try:
                run()
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        def stream_all() -> None:
            for _ in jira.stream("issues", "search", {"jql": JQL, "fields": ["summary"]}, page_size=100):
                pass

        def hold_all() -> None:
            everything = list(jira.stream("issues", "search", {"jql": JQL, "fields": ["summary"]}, page_size=100))
            assert len(everything) >= ISSUES_PER_SITE

        streamed, held = peak(stream_all), peak(hold_all)
        assert streamed * 4 < held, (streamed, held)
    http.close()


def test_stream_of_an_unpaged_action_yields_its_object(jira: Connector, jg: Jiragate) -> None:
    items = list(jira.stream("myself", "get"))
    assert len(items) == 1 and items[0]["accountId"]
