"""Fixtures: a real `atlassian-sim` and a real `jiragate serve` on loopback.

Binaries come from ``ATLASSIAN_SIM_BIN`` / ``JIRAGATE_BIN``, defaulting to
``<repo root>/target/debug/atlassian-sim`` and ``<repo root>/target/debug/jiragate``. Both bind
port 0; the simulator announces its URLs on its first stdout line and ``serve`` its address on
stderr. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from jiragate import Connector, ConnectorInfo, Jiragate

REPO_ROOT = Path(__file__).resolve().parents[3]
STARTUP_TIMEOUT = 60.0
ISSUES_PER_SITE = 5000

#: OAuth scopes the test connections ask for (classic scopes, as Atlassian's docs list them).
FULL_SCOPES = ["read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-project"]


def binary(env_var: str, name: str) -> Path:
    raw = os.environ.get(env_var)
    path = Path(raw) if raw else REPO_ROOT / "target" / "debug" / name
    if not path.is_file() or not os.access(path, os.X_OK):
        raise RuntimeError(
            f"{name} binary not found at {path}; build it (cargo build --workspace) or set {env_var}"
        )
    return path


def wait_for(what: str, check: Any, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready within {timeout:.0f}s:\n{log.read_text(errors='replace')[-4000:]}")


def stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Sim:
    """A running `atlassian-sim` and the JSON line it announced."""

    proc: subprocess.Popen[bytes]
    info: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.info["auth_url"]).rstrip("/")

    def user(self, i: int) -> dict[str, str]:
        u: dict[str, str] = self.info["users"][i]
        return u

    def site(self, i: int = 0) -> dict[str, str]:
        s: dict[str, str] = self.info["sites"][i]
        return s

    def control(self, path: str, body: Any = None) -> Any:
        with httpx.Client(timeout=10) as c:
            if body is None:
                r = c.get(f"{self.url}/__sim/{path}")
            else:
                r = c.post(f"{self.url}/__sim/{path}", json=body)
        r.raise_for_status()
        return r.json()

    def stats(self) -> dict[str, Any]:
        s: dict[str, Any] = self.control("stats")
        return s

    def now(self) -> int:
        """The simulated clock, in whole seconds since the epoch."""
        from datetime import datetime

        iso = self.control("clock/advance", {"seconds": 0})["now"]
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())

    def advance(self, seconds: int) -> None:
        self.control("clock/advance", {"seconds": seconds})


def start_sim(tmp: Path, *args: str) -> Sim:
    log = tmp / "sim.log"
    out = open(log, "wb")
    proc = subprocess.Popen(
        [str(binary("ATLASSIAN_SIM_BIN", "atlassian-sim")), "--listen", "127.0.0.1:0", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out.close()

    def first_line() -> dict[str, Any] | None:
        text = log.read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith("{") and line.endswith("}"):
                parsed: dict[str, Any] = json.loads(line)
                return parsed
        return None

    info = wait_for("atlassian-sim", first_line, STARTUP_TIMEOUT, proc, log)
    return Sim(proc, info)


@dataclass
class Server:
    """A running `jiragate serve` pointed at a simulator."""

    proc: subprocess.Popen[bytes]
    url: str
    admin_key: str
    sim: Sim
    data_dir: Path
    _oauth_client_id: str | None = field(default=None)

    def client(self, **kw: Any) -> Jiragate:
        kw.setdefault("api_key", self.admin_key)
        return Jiragate(url=self.url, **kw)

    def key_with(self, *scopes: str) -> str:
        with self.client() as jg:
            return jg.keys.create(name=f"test-{'-'.join(s.replace(':', '_') for s in scopes)}", scopes=scopes).key

    def oauth_client_id(self) -> str:
        """The simulator's OAuth app, registered once with this server."""
        if self._oauth_client_id is None:
            app = self.sim.info["oauth_clients"][0]
            with self.client() as jg:
                rec = jg.oauth_clients.create(
                    client_id=app["client_id"], client_secret=app["client_secret"], scopes=FULL_SCOPES
                )
            self._oauth_client_id = rec.id
        return self._oauth_client_id

    def oauth_connect(
        self,
        *,
        workspace_name: str,
        name: str,
        owner: str | None = None,
        scopes: list[str] | None = None,
        sim_user: int = 0,
    ) -> ConnectorInfo:
        """Runs the OAuth consent flow, playing the browser: authorize URL -> the simulator's
        automatic consent -> jiragate's callback."""
        with self.client() as jg:
            session = jg.connect_sessions.create(
                oauth_client_id=self.oauth_client_id(),
                workspace_name=workspace_name,
                name=name,
                owner=owner,
                scopes=scopes,
                subdomain=self.sim.site(0)["subdomain"],
            )
            assert session.authorize_url
            url = session.authorize_url + "&" + urlencode({"sim_user": self.sim.user(sim_user)["email"]})
            with httpx.Client(timeout=30, follow_redirects=False) as browser:
                consent = browser.get(url)
                assert consent.status_code in (302, 303), consent.text
                callback = consent.headers["location"]
                assert callback.startswith(self.url), callback
                page = browser.get(callback)
                assert page.status_code == 200, page.text
            done = jg.connect_sessions.get(session.id)
            assert done.status == "connected", done
            assert done.connector_id
            return jg.connectors.get(done.connector_id)


def start_server(tmp: Path, sim: Sim, extra_env: dict[str, str] | None = None) -> Server:
    data_dir = tmp / "data"
    log = tmp / "serve.log"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "JIRAGATE_LISTEN": "127.0.0.1:0",
        "JIRAGATE_DATA_DIR": str(data_dir),
        "JIRAGATE_ATLASSIAN_AUTH_URL": sim.info["auth_url"],
        "JIRAGATE_ATLASSIAN_API_URL": sim.info["api_url"],
        "JIRAGATE_JIRA_SITE_URL": sim.info["site_url"],
        "JIRAGATE_LOG": "warn",
        "NO_COLOR": "1",
        **(extra_env or {}),
    }
    out = open(log, "wb")
    proc = subprocess.Popen(
        [str(binary("JIRAGATE_BIN", "jiragate")), "serve"],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=tmp,
    )
    out.close()
    pattern = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")

    def listening() -> str | None:
        m = pattern.search(log.read_text(errors="replace"))
        return m.group(1) if m else None

    url = str(wait_for("jiragate serve", listening, STARTUP_TIMEOUT, proc, log))

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for("jiragate /healthz", healthy, STARTUP_TIMEOUT, proc, log)
    key = (data_dir / "admin.key").read_text().strip()
    # The OAuth callback of this server must be an allowed redirect URI of the simulator's app.
    sim.control("redirect-uri", {"redirect_uri": f"{url}/oauth/callback"})
    return Server(proc=proc, url=url, admin_key=key, sim=sim, data_dir=data_dir)


@dataclass
class Stack:
    sim: Sim
    server: Server


def make_stack(*sim_args: str) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="jiragate-py-") as d:
        tmp = Path(d)
        sim = start_sim(tmp, *sim_args)
        try:
            server = start_server(tmp, sim)
            try:
                yield Stack(sim, server)
            finally:
                stop(server.proc, signal.SIGTERM)
        finally:
            stop(sim.proc, signal.SIGINT)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """One simulator (5,000 issues per site) and one server for the whole run."""
    yield from make_stack("--issues", str(ISSUES_PER_SITE))


@pytest.fixture(scope="session")
def server(stack: Stack) -> Server:
    return stack.server


@pytest.fixture(scope="session")
def sim(stack: Stack) -> Sim:
    return stack.sim


@pytest.fixture(scope="session")
def jira_info(server: Server, sim: Sim) -> ConnectorInfo:
    """An API-token connector `w/jira` on the first site, created once."""
    u = sim.user(0)
    with server.client() as jg:
        return jg.connectors.create(
            workspace_name="w",
            name="jira",
            subdomain=sim.site(0)["subdomain"],
            email=u["email"],
            api_token=u["api_token"],
        )


@pytest.fixture()
def jg(server: Server) -> Iterator[Jiragate]:
    with server.client() as c:
        yield c


@pytest.fixture()
def jira(jg: Jiragate, jira_info: ConnectorInfo) -> Connector:
    """A handle on `w/jira`, the way an application gets one."""
    return jg.connect("jira", workspace_name="w", name="jira")
