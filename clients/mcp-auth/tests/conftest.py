"""A real `atlassian-sim` and a real `jiragate serve` on loopback for the MCP authorization
tests. Binaries from ``ATLASSIAN_SIM_BIN`` / ``JIRAGATE_BIN`` (default: <repo>/target/debug).
Every wait is bounded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 60.0


def binary(env_var: str, name: str) -> Path:
    raw = os.environ.get(env_var)
    path = Path(raw) if raw else REPO_ROOT / "target" / "debug" / name
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{name} not found at {path}; build it or set {env_var}")
    return path


def wait_for(what: str, check: Callable[[], Any], proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready in {TIMEOUT:.0f}s:\n{log.read_text(errors='replace')[-4000:]}")


def stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Stack:
    sim: dict[str, Any]
    url: str
    admin_key: str
    connection_id: str


def _start(tmp: Path, extra_env: dict[str, str]) -> Iterator[Stack]:
    sim_log = tmp / "sim.log"
    with open(sim_log, "wb") as out:
        sim = subprocess.Popen(
            [str(binary("ATLASSIAN_SIM_BIN", "atlassian-sim")), "--listen", "127.0.0.1:0"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def announced() -> dict[str, Any] | None:
        for line in sim_log.read_text(errors="replace").splitlines():
            if line.startswith("{") and line.endswith("}"):
                parsed: dict[str, Any] = json.loads(line)
                return parsed
        return None

    try:
        info = wait_for("atlassian-sim", announced, sim, sim_log)
        data_dir, log = tmp / "data", tmp / "serve.log"
        env = {
            "PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "NO_COLOR": "1",
            "JIRAGATE_LISTEN": "127.0.0.1:0", "JIRAGATE_DATA_DIR": str(data_dir),
            "JIRAGATE_ATLASSIAN_AUTH_URL": info["auth_url"],
            "JIRAGATE_ATLASSIAN_API_URL": info["api_url"],
            "JIRAGATE_JIRA_SITE_URL": info["site_url"], "JIRAGATE_LOG": "warn",
            **extra_env,
        }
        with open(log, "wb") as out:
            server = subprocess.Popen(
                [str(binary("JIRAGATE_BIN", "jiragate")), "serve"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=tmp,
            )
        try:
            pattern = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")

            def listening() -> str | None:
                m = pattern.search(log.read_text(errors="replace"))
                return m.group(1) if m else None

            url = str(wait_for("jiragate serve", listening, server, log))

            def healthy() -> bool:
                try:
                    return httpx2.get(f"{url}/healthz", timeout=2).status_code == 200
                except httpx2.HTTPError:
                    return False

            wait_for("jiragate /healthz", healthy, server, log)
            key = (data_dir / "admin.key").read_text().strip()
            user, site = info["users"][0], info["sites"][0]
            r = httpx2.post(
                f"{url}/api/v1/integrations/connectors",
                headers={"authorization": f"Bearer {key}"},
                json={"workspace_name": "agents", "connector_type": "Jira", "name": "jira",
                      "credentials": {"username": user["email"], "password": user["api_token"]},
                      "replication_config": {"subdomain": site["subdomain"]}},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            yield Stack(info, url, key, r.json()["id"])
        finally:
            stop(server, signal.SIGTERM)
    finally:
        stop(sim, signal.SIGINT)


@dataclass
class Tls:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    from tls import make_certs

    return Tls(*make_certs(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="session")
def signin_stack() -> Iterator[Stack]:
    """A `serve` of its own whose organization identifies people by Atlassian sign-in: the
    simulator's OAuth app is registered (its callback is this serve's `/oauth/callback`) and
    the MCP setting says `atlassian`, on the first site."""
    with tempfile.TemporaryDirectory(prefix="jiragate-mcp-signin-") as d:
        for s in _start(Path(d), {}):
            sim_base = str(s.sim["auth_url"]).rstrip("/")
            r = httpx2.post(
                f"{sim_base}/__sim/redirect-uri", json={"redirect_uri": f"{s.url}/oauth/callback"}, timeout=10
            )
            assert r.status_code == 200, r.text
            admin = {"authorization": f"Bearer {s.admin_key}"}
            app = s.sim["oauth_clients"][0]
            r = httpx2.post(
                f"{s.url}/api/v1/oauth/clients",
                headers=admin,
                json={"client_id": app["client_id"], "client_secret": app["client_secret"],
                      "scopes": ["read:jira-work", "write:jira-work", "read:jira-user"]},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            r = httpx2.put(
                f"{s.url}/api/v1/mcp/settings",
                headers=admin,
                json={"sign_in": "atlassian", "subdomain": s.sim["sites"][0]["subdomain"]},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            yield s


@pytest.fixture(scope="session")
def stack(tls: Tls) -> Iterator[Stack]:
    """`serve` with the operator's allowance for client metadata documents on loopback, trusting
    the test CA (SSL_CERT_FILE) that signs the loopback https server of those documents."""
    with tempfile.TemporaryDirectory(prefix="jiragate-mcp-auth-") as d:
        yield from _start(
            Path(d), {"JIRAGATE_MCP_CIMD_ALLOW_PRIVATE": "true", "SSL_CERT_FILE": str(tls.ca)}
        )
