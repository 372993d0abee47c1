#!/usr/bin/env bash
# Tests of the client libraries, of outside tools on /openapi.json, of third-party Jira
# clients (clients/compat) and of the MCP SDK's OAuth client (clients/mcp-auth) against a real `jiragate serve` and `atlassian-sim`.
#
#   clients/run-tests.sh
#
# Needs python3 (>= 3.10), node (>= 20) with npm, and the two binaries: JIRAGATE_BIN and
# ATLASSIAN_SIM_BIN, by default <repo root>/target/debug/{jiragate,atlassian-sim} (built by
# `cargo test --workspace` or `cargo build -p jiragate -p atlassian-sim`). Installs pinned
# dependencies from PyPI and npm only; never reads stdin.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
export JIRAGATE_BIN="${JIRAGATE_BIN:-$root/target/debug/jiragate}"
export ATLASSIAN_SIM_BIN="${ATLASSIAN_SIM_BIN:-$root/target/debug/atlassian-sim}"
for bin in "$JIRAGATE_BIN" "$ATLASSIAN_SIM_BIN"; do
  if [[ ! -x "$bin" ]]; then
    echo "run-tests.sh: $bin is missing; build it first (cargo build -p jiragate -p atlassian-sim)" >&2
    exit 2
  fi
done
exec </dev/null
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 npm_config_fund=false npm_config_audit=false

started=$SECONDS
section() { printf '\n==> %s\n' "$*"; }

# ---- Python ---------------------------------------------------------------------------------
py_dir="$here/python"
python="${PYTHON:-python3}"
"$python" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
  || { echo "run-tests.sh: Python >= 3.10 is required" >&2; exit 2; }
section "python: venv and pinned dependencies"
if [[ ! -x "$py_dir/.venv/bin/python" ]]; then
  "$python" -m venv "$py_dir/.venv"
fi
venv_py="$py_dir/.venv/bin/python"
# The package as users get it (not editable), its dev extra, everything pinned by constraints.txt.
"$venv_py" -m pip install --quiet --constraint "$py_dir/constraints.txt" --force-reinstall --no-deps "$py_dir"
"$venv_py" -m pip install --quiet --constraint "$py_dir/constraints.txt" "$py_dir[dev]"

section "python: mypy --strict"
(cd "$py_dir" && "$venv_py" -m mypy --strict)

section "python: pytest"
py_started=$SECONDS
(cd "$py_dir" && "$venv_py" -m pytest -q -p no:cacheprovider)
py_secs=$((SECONDS - py_started))

# ---- TypeScript -----------------------------------------------------------------------------
ts_dir="$here/typescript"
section "typescript: npm ci"
(cd "$ts_dir" && npm ci --no-audit --no-fund --loglevel=error)

section "typescript: tsc --strict"
(cd "$ts_dir" && npx --no-install tsc -p tsconfig.json --strict && npx --no-install tsc -p tsconfig.test.json --strict)

section "typescript: node --test"
ts_started=$SECONDS
(cd "$ts_dir" && node --test --test-concurrency=1 --test-reporter=spec dist-test/test/*.test.js)
ts_secs=$((SECONDS - ts_started))

# ---- Outside tools and third-party clients (clients/compat) ---------------------------------
# openapi-spec-validator and openapi-python-client on the live /openapi.json; Python `jira`
# (pycontribs) and npm `jira.js` through the proxy, each against the simulator directly as the
# baseline.
compat_dir="$here/compat"
section "compat: venv, pinned tools and clients"
if [[ ! -x "$compat_dir/.venv/bin/python" ]]; then
  "$python" -m venv "$compat_dir/.venv"
fi
compat_py="$compat_dir/.venv/bin/python"
"$compat_py" -m pip install --quiet --constraint "$compat_dir/constraints.txt" \
  --requirement "$compat_dir/requirements.txt" "$py_dir"
(cd "$compat_dir" && npm ci --no-audit --no-fund --loglevel=error)

section "compat: pytest"
compat_started=$SECONDS
(cd "$compat_dir" && "$compat_py" -m pytest -q)
compat_secs=$((SECONDS - compat_started))

# ---- Remote MCP with MCP authorization (clients/mcp-auth) ----------------------------------------
# The official MCP Python SDK's OAuth client provider against `serve`: discovery, registration,
# consent (the test plays the browser), tokens, then tool calls.
mcp_auth_dir="$here/mcp-auth"
section "mcp-auth: venv and the pinned MCP SDK"
if [[ ! -x "$mcp_auth_dir/.venv/bin/python" ]]; then
  "$python" -m venv "$mcp_auth_dir/.venv"
fi
mcp_auth_py="$mcp_auth_dir/.venv/bin/python"
"$mcp_auth_py" -m pip install --quiet --constraint "$mcp_auth_dir/constraints.txt" \
  --requirement "$mcp_auth_dir/requirements.txt"

section "mcp-auth: pytest"
mcp_auth_started=$SECONDS
(cd "$mcp_auth_dir" && "$mcp_auth_py" -m pytest -q)
mcp_auth_secs=$((SECONDS - mcp_auth_started))

printf '\nclient tests passed: pytest %ss, node --test %ss, compat %ss, mcp-auth %ss, %ss in all\n' "$py_secs" "$ts_secs" "$compat_secs" "$mcp_auth_secs" "$((SECONDS - started))"
