// Test fixtures: a real `atlassian-sim` and a real `jiragate serve` on loopback.
// Binaries: ATLASSIAN_SIM_BIN / JIRAGATE_BIN, default <repo root>/target/debug/{atlassian-sim,jiragate}.
// Both bind port 0; every wait is bounded.

import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { Jiragate, type ConnectorView, type JiragateOptions } from "../src/index.js";

// dist-test/test/support.js -> clients/typescript -> repo root
const PKG = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const REPO_ROOT = resolve(PKG, "..", "..");
const STARTUP_MS = 60_000;

export const FULL_SCOPES = ["read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-project"];

function binary(envVar: string, name: string): string {
  const path = process.env[envVar] || join(REPO_ROOT, "target", "debug", name);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${name} binary not found at ${path}; build it (cargo build --workspace) or set ${envVar}`);
  }
  return path;
}

async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, proc: ChildProcess, log: string): Promise<T> {
  const deadline = Date.now() + STARTUP_MS;
  while (Date.now() < deadline) {
    const got = await check();
    if (got !== undefined) return got;
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}:\n${readFileSync(log, "utf8").slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} not ready within ${STARTUP_MS / 1000}s:\n${readFileSync(log, "utf8").slice(-4000)}`);
}

async function stop(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function launch(bin: string, args: string[], log: string, env: NodeJS.ProcessEnv, cwd: string): ChildProcess {
  const fd = openSync(log, "w");
  const child = spawn(bin, args, { stdio: ["ignore", fd, fd], env, cwd });
  closeSync(fd);
  return child;
}

export interface SimUser {
  email: string;
  account_id: string;
  api_token: string;
}

export interface SimInfo {
  auth_url: string;
  api_url: string;
  site_url: string;
  sites: { subdomain: string; cloud_id: string; url: string }[];
  oauth_clients: { client_id: string; client_secret: string }[];
  users: SimUser[];
}

export interface SimStats {
  token_requests: { authorization_code: number; refresh_token: number };
  rate_limited: number;
  retry_after_violations: number;
  requests: Record<string, number>;
}

export class Sim {
  constructor(
    readonly proc: ChildProcess,
    readonly info: SimInfo,
  ) {}

  get url(): string {
    return this.info.auth_url.replace(/\/+$/, "");
  }

  user(i: number): SimUser {
    const u = this.info.users[i];
    if (!u) throw new Error(`no simulated user ${i}`);
    return u;
  }

  get subdomain(): string {
    return this.info.sites[0]!.subdomain;
  }

  async control<T = unknown>(path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/__sim/${path}`, body === undefined ? {} : {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`sim ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  stats(): Promise<SimStats> {
    return this.control<SimStats>("stats");
  }

  /** The simulated clock, whole seconds since the epoch. */
  async now(): Promise<number> {
    const r = await this.control<{ now: string }>("clock/advance", { seconds: 0 });
    return Math.floor(Date.parse(r.now) / 1000);
  }

  async advance(seconds: number): Promise<void> {
    await this.control("clock/advance", { seconds });
  }
}

export class Server {
  #oauthClientId: string | undefined;

  constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    readonly adminKey: string,
    readonly sim: Sim,
  ) {}

  client(options: JiragateOptions = {}): Jiragate {
    return new Jiragate({ url: this.url, apiKey: this.adminKey, ...options });
  }

  async keyWith(...scopes: string[]): Promise<string> {
    return (await this.client().keys.create({ name: `test-${scopes.join("-")}`, scopes })).key;
  }

  async oauthClientId(): Promise<string> {
    if (this.#oauthClientId === undefined) {
      const app = this.sim.info.oauth_clients[0]!;
      const rec = await this.client().oauthClients.create({ clientId: app.client_id, clientSecret: app.client_secret, scopes: FULL_SCOPES });
      this.#oauthClientId = rec.id;
    }
    return this.#oauthClientId;
  }

  /** The OAuth consent flow, playing the browser: authorize URL -> the simulator's automatic
   * consent -> jiragate's callback. */
  async oauthConnect(input: { workspaceName: string; name: string; owner?: string; scopes?: string[]; simUser?: number }): Promise<ConnectorView> {
    const jg = this.client();
    const session = await jg.connectSessions.create({
      oauthClientId: await this.oauthClientId(),
      workspaceName: input.workspaceName,
      name: input.name,
      subdomain: this.sim.subdomain,
      ...(input.owner !== undefined ? { owner: input.owner } : {}),
      ...(input.scopes !== undefined ? { scopes: input.scopes } : {}),
    });
    const url = `${session.authorize_url}&${new URLSearchParams({ sim_user: this.sim.user(input.simUser ?? 0).email })}`;
    const consent = await fetch(url, { redirect: "manual" });
    if (consent.status !== 302 && consent.status !== 303) throw new Error(`consent: ${consent.status} ${await consent.text()}`);
    const callback = consent.headers.get("location")!;
    const page = await fetch(callback, { redirect: "manual" });
    if (page.status !== 200) throw new Error(`callback: ${page.status} ${await page.text()}`);
    const done = await jg.connectSessions.get(session.id);
    if (done.status !== "connected" || !done.connector_id) throw new Error(`session: ${JSON.stringify(done)}`);
    return jg.connectors.get(done.connector_id);
  }
}

export interface Stack {
  sim: Sim;
  server: Server;
  stop(): Promise<void>;
}

export async function startStack(...simArgs: string[]): Promise<Stack> {
  return startStackWith({}, ...simArgs);
}

/** As `startStack`, with extra environment for `jiragate serve` (e.g. its per-key limit). */
export async function startStackWith(serveEnv: Record<string, string>, ...simArgs: string[]): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), "jiragate-ts-"));
  const simLog = join(dir, "sim.log");
  const simProc = launch(binary("ATLASSIAN_SIM_BIN", "atlassian-sim"), ["--listen", "127.0.0.1:0", ...simArgs], simLog, { PATH: process.env["PATH"] ?? "" }, dir);
  let serveProc: ChildProcess | undefined;
  const stopAll = async (): Promise<void> => {
    if (serveProc) await stop(serveProc, "SIGTERM");
    await stop(simProc, "SIGINT");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const info = await waitFor<SimInfo>("atlassian-sim", () => {
      const line = readFileSync(simLog, "utf8").split("\n").find((l) => l.startsWith("{") && l.endsWith("}"));
      return line ? (JSON.parse(line) as SimInfo) : undefined;
    }, simProc, simLog);
    const sim = new Sim(simProc, info);

    const serveLog = join(dir, "serve.log");
    const dataDir = join(dir, "data");
    serveProc = launch(binary("JIRAGATE_BIN", "jiragate"), ["serve"], serveLog, {
      PATH: process.env["PATH"] ?? "",
      HOME: dir,
      JIRAGATE_LISTEN: "127.0.0.1:0",
      JIRAGATE_DATA_DIR: dataDir,
      JIRAGATE_ATLASSIAN_AUTH_URL: info.auth_url,
      JIRAGATE_ATLASSIAN_API_URL: info.api_url,
      JIRAGATE_JIRA_SITE_URL: info.site_url,
      JIRAGATE_LOG: "warn",
      NO_COLOR: "1",
      ...serveEnv,
    }, dir);
    const proc = serveProc;
    const url = await waitFor("jiragate serve", () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(readFileSync(serveLog, "utf8"))?.[1], proc, serveLog);
    await waitFor("jiragate /healthz", async () => {
      try {
        return (await fetch(`${url}/healthz`)).ok ? true : undefined;
      } catch {
        return undefined;
      }
    }, proc, serveLog);
    const key = readFileSync(join(dataDir, "admin.key"), "utf8").trim();
    await sim.control("redirect-uri", { redirect_uri: `${url}/oauth/callback` });
    return { sim, server: new Server(proc, url, key, sim), stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
