// The client. Uses only `fetch` (Node >= 20, browsers, Deno, Bun); no runtime dependencies.

import { ConfigurationError, TransportError, errorFromResponse, isProblem, parseRetryAfter } from "./errors.js";
import type {
  ApiKeyView,
  CheckResponse,
  ConnectorView,
  CreateSessionResponse,
  CreatedKeyResponse,
  CredentialFor,
  Description,
  ExecuteResult,
  OAuthClientView,
  OrganizationView,
  SessionView,
  TokenResponse,
} from "./types.js";

export const VERSION = "0.1.0";
const API = "/api/v1";
const CONNECTORS = `${API}/integrations/connectors`;
const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

export type QueryValue = string | number | boolean | null | undefined;

export interface JiragateOptions {
  /** Server URL; default `JIRAGATE_URL` from the environment (Node). */
  url?: string;
  /** API key (`jg_…`); default `JIRAGATE_API_KEY` from the environment (Node). */
  apiKey?: string;
  /** Act for this organization (`X-Organization-Id`; platform keys); default `JIRAGATE_ORGANIZATION_ID`. */
  organizationId?: string;
  /** Per-request timeout in milliseconds (default 60 000). */
  timeoutMs?: number;
  /** How often a 429 is retried, idempotent calls only (default 3). */
  maxRetries?: number;
  /** The longest `Retry-After` the client waits for, in milliseconds (default 60 000). */
  maxRetryWaitMs?: number;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
}

/** One request of the API before it is sent. */
export interface Call {
  method: string;
  path: string;
  query?: Record<string, QueryValue> | undefined;
  json?: unknown;
  body?: BodyInit | null | undefined;
  headers?: Record<string, string> | undefined;
  /** May it be sent again after a 429? */
  idempotent?: boolean;
  /** Throw for error answers (the proxy only throws for jiragate's own problem documents). */
  raiseErrors?: boolean;
}

function envVar(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = proc?.env?.[name];
  return v === undefined || v === "" ? undefined : v;
}

function seg(value: string): string {
  return encodeURIComponent(value);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function stripUndefined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export interface CreateConnectorInput {
  name: string;
  workspaceName?: string;
  /** Site subdomain (`acme` for acme.atlassian.net) … */
  subdomain?: string;
  /** … or the full site URL. */
  baseUrl?: string;
  /** `platform` (default) or `service_management`. */
  apiType?: string;
  /** Owner user id; absent = the installation. */
  userId?: string;
  /** API token credentials: Atlassian account email and API token. */
  email?: string;
  apiToken?: string;
  scoped?: boolean;
  /** OAuth credentials. */
  refreshToken?: string;
  accessToken?: string;
  clientId?: string;
  clientSecret?: string;
}

export type ConnectTarget = { workspaceName?: string; name: string } | { connectorId: string };

export type GetCredentialInput =
  | {
      /** The workspace holding the tenant's connections. */
      tenantId: string;
      /** The owner of a `user` credential. */
      userId?: string;
      credentialFor?: CredentialFor;
    }
  | { connectorId: string };

export class Jiragate {
  readonly url: string;
  readonly organizationId: string | undefined;
  readonly connectors: Connectors;
  readonly oauthClients: OAuthClients;
  readonly connectSessions: ConnectSessions;
  readonly keys: Keys;
  readonly organizations: Organizations;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #maxRetryWaitMs: number;

  constructor(options: JiragateOptions = {}) {
    const url = options.url ?? envVar("JIRAGATE_URL") ?? envVar("JIRAGATE_SERVER");
    if (!url) throw new ConfigurationError("no server URL: pass { url } or set JIRAGATE_URL");
    const apiKey = options.apiKey ?? envVar("JIRAGATE_API_KEY");
    if (!apiKey) throw new ConfigurationError("no API key: pass { apiKey } or set JIRAGATE_API_KEY");
    this.url = url.replace(/\/+$/, "");
    this.#apiKey = apiKey.trim();
    this.organizationId = options.organizationId ?? envVar("JIRAGATE_ORGANIZATION_ID");
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new ConfigurationError("no fetch available: pass { fetch }");
    this.#fetch = f;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#maxRetries = options.maxRetries ?? 3;
    this.#maxRetryWaitMs = options.maxRetryWaitMs ?? 60_000;
    this.connectors = new Connectors(this);
    this.oauthClients = new OAuthClients(this);
    this.connectSessions = new ConnectSessions(this);
    this.keys = new Keys(this);
    this.organizations = new Organizations(this);
  }

  /**
   * Send one call with the retry policy: a 429 is retried after its `Retry-After` for idempotent
   * calls only, at most `maxRetries` times and only when the wait is within `maxRetryWaitMs`.
   * Error answers throw the typed error of their problem `type`.
   */
  async send(call: Call): Promise<Response> {
    const method = call.method.toUpperCase();
    let url = `${this.url}${call.path}`;
    if (call.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(call.query)) if (v !== undefined && v !== null) q.append(k, String(v));
      const s = q.toString();
      if (s) url += `?${s}`;
    }
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.#apiKey}`,
      Accept: "application/json, application/problem+json",
    };
    if (this.organizationId) headers["X-Organization-Id"] = this.organizationId;
    let body: BodyInit | null | undefined = call.body;
    if (body === undefined && call.json !== undefined) {
      body = JSON.stringify(call.json);
      headers["Content-Type"] = "application/json";
    }
    Object.assign(headers, call.headers ?? {});
    // A stream cannot be sent twice.
    const replayable = !(typeof ReadableStream !== "undefined" && body instanceof ReadableStream);
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.#fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.#timeoutMs) });
      } catch (e) {
        throw new TransportError(`${method} ${url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      const wait = replayable ? this.#retryDelay(call, res, attempt) : undefined;
      if (wait === undefined) return this.#check(call, res);
      await res.body?.cancel();
      await sleep(wait);
    }
  }

  #retryDelay(call: Call, res: Response, attempt: number): number | undefined {
    if (res.status !== 429 || !call.idempotent || attempt >= this.#maxRetries) return undefined;
    const seconds = parseRetryAfter(res.headers.get("retry-after")) ?? 2 ** attempt;
    const ms = seconds * 1000;
    return ms > this.#maxRetryWaitMs ? undefined : ms + 50;
  }

  async #check(call: Call, res: Response): Promise<Response> {
    if (res.status < 400) return res;
    if (call.raiseErrors !== false || isProblem(res)) throw errorFromResponse(res, await res.text());
    return res;
  }

  /** Send a call and decode its JSON answer. */
  async json<T>(call: Call): Promise<T> {
    const res = await this.send(call);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /** A handle on an existing connector, by workspace and name or by id (throws `NotFoundError`). */
  async connect(connectorType: "jira" | "Jira", target: ConnectTarget): Promise<Connector> {
    if (connectorType.toLowerCase() !== "jira") {
      throw new TypeError(`unsupported connector type ${String(connectorType)}; jiragate speaks "jira"`);
    }
    const ref = "connectorId" in target ? target.connectorId : `${target.workspaceName ?? "default"}/${target.name}`;
    return new Connector(this, await this.connectors.get(ref));
  }

  /**
   * A fresh Jira access token with its expiry and the base URL to call Jira with. `tenantId` is
   * the workspace of the tenant's connections; `credentialFor: "user"` picks the one owned by
   * `userId`, `"installation"` the shared one. Needs an API key with `credentials:read`.
   * The server refreshes tokens itself; OAuth connections only.
   */
  async getCredential(input: GetCredentialInput): Promise<TokenResponse> {
    let body: Record<string, unknown>;
    if ("connectorId" in input) {
      body = { connector_id: input.connectorId };
    } else {
      const credentialFor = input.credentialFor ?? (input.userId !== undefined ? "user" : "installation");
      if (credentialFor === "user" && !input.userId) throw new TypeError('credentialFor "user" needs userId');
      body = { workspace_name: input.tenantId, credential_for: credentialFor };
      if (credentialFor === "user") body["user_id"] = input.userId;
    }
    // Asking for a token twice hands out a valid token twice: safe to repeat after a 429.
    return this.json<TokenResponse>({ method: "POST", path: `${API}/credentials/token`, json: body, idempotent: true });
  }
}

export class Connectors {
  constructor(private readonly c: Jiragate) {}

  /** Create a connector with an API token (`email` + `apiToken`) or OAuth tokens (`refreshToken`, …). */
  create(input: CreateConnectorInput): Promise<ConnectorView> {
    const credentials =
      input.refreshToken !== undefined
        ? stripUndefined({
            refresh_token: input.refreshToken,
            access_token: input.accessToken,
            client_id: input.clientId,
            client_secret: input.clientSecret,
          })
        : stripUndefined({ username: input.email, password: input.apiToken, scoped: input.scoped });
    const rc = stripUndefined({ subdomain: input.subdomain, base_url: input.baseUrl, api_type: input.apiType });
    const body = stripUndefined({
      connector_type: "Jira",
      name: input.name,
      workspace_name: input.workspaceName,
      credentials,
      replication_config: Object.keys(rc).length > 0 ? rc : undefined,
      user_id: input.userId,
    });
    return this.c.json<ConnectorView>({ method: "POST", path: CONNECTORS, json: body });
  }

  async list(options: { workspaceName?: string } = {}): Promise<ConnectorView[]> {
    const r = await this.c.json<{ data: ConnectorView[] }>({
      method: "GET",
      path: CONNECTORS,
      query: { workspace_name: options.workspaceName },
      idempotent: true,
    });
    return r.data;
  }

  /** By id, or `workspace/name`. */
  get(ref: string): Promise<ConnectorView> {
    return this.c.json<ConnectorView>({ method: "GET", path: `${CONNECTORS}/${seg(ref)}`, idempotent: true });
  }

  async delete(ref: string): Promise<void> {
    await this.c.send({ method: "DELETE", path: `${CONNECTORS}/${seg(ref)}`, idempotent: true });
  }

  /** Health-check now. */
  check(ref: string): Promise<CheckResponse> {
    return this.c.json<CheckResponse>({ method: "POST", path: `${CONNECTORS}/${seg(ref)}/check`, idempotent: true });
  }
}

export class OAuthClients {
  constructor(private readonly c: Jiragate) {}
  create(input: { clientId: string; clientSecret: string; scopes?: string[] }): Promise<OAuthClientView> {
    const json = { client_id: input.clientId, client_secret: input.clientSecret, scopes: input.scopes ?? [] };
    return this.c.json<OAuthClientView>({ method: "POST", path: `${API}/oauth/clients`, json });
  }
  async list(): Promise<OAuthClientView[]> {
    return (await this.c.json<{ data: OAuthClientView[] }>({ method: "GET", path: `${API}/oauth/clients`, idempotent: true })).data;
  }
  async delete(id: string): Promise<void> {
    await this.c.send({ method: "DELETE", path: `${API}/oauth/clients/${seg(id)}`, idempotent: true });
  }
}

export class ConnectSessions {
  constructor(private readonly c: Jiragate) {}
  /** Start the OAuth consent flow: send the user's browser to `authorize_url`. */
  create(input: {
    oauthClientId: string;
    name: string;
    workspaceName?: string;
    scopes?: string[];
    subdomain?: string;
    owner?: string;
    apiType?: string;
  }): Promise<CreateSessionResponse> {
    const json = stripUndefined({
      oauth_client_id: input.oauthClientId,
      name: input.name,
      workspace_name: input.workspaceName,
      scopes: input.scopes,
      subdomain: input.subdomain,
      owner: input.owner,
      api_type: input.apiType,
    });
    return this.c.json<CreateSessionResponse>({ method: "POST", path: `${API}/connect/sessions`, json });
  }
  get(id: string): Promise<SessionView> {
    return this.c.json<SessionView>({ method: "GET", path: `${API}/connect/sessions/${seg(id)}`, idempotent: true });
  }
  chooseSite(id: string, cloudId: string): Promise<SessionView> {
    return this.c.json<SessionView>({ method: "POST", path: `${API}/connect/sessions/${seg(id)}/site`, json: { cloud_id: cloudId } });
  }
}

export class Keys {
  constructor(private readonly c: Jiragate) {}
  create(input: { name: string; scopes: string[]; platform?: boolean }): Promise<CreatedKeyResponse> {
    return this.c.json<CreatedKeyResponse>({ method: "POST", path: `${API}/keys`, json: { platform: false, ...input } });
  }
  async list(): Promise<ApiKeyView[]> {
    return (await this.c.json<{ data: ApiKeyView[] }>({ method: "GET", path: `${API}/keys`, idempotent: true })).data;
  }
  async revoke(id: string): Promise<void> {
    await this.c.send({ method: "DELETE", path: `${API}/keys/${seg(id)}`, idempotent: true });
  }
}

export class Organizations {
  constructor(private readonly c: Jiragate) {}
  create(input: { name: string }): Promise<OrganizationView> {
    return this.c.json<OrganizationView>({ method: "POST", path: `${API}/organizations`, json: input });
  }
  async list(): Promise<OrganizationView[]> {
    return (await this.c.json<{ data: OrganizationView[] }>({ method: "GET", path: `${API}/organizations`, idempotent: true })).data;
  }
}

export interface ProxyRequestOptions {
  query?: Record<string, QueryValue>;
  /** A JSON body (sent with `Content-Type: application/json`). */
  json?: unknown;
  /** A raw body (multipart uploads, ...). */
  body?: BodyInit | null;
  headers?: Record<string, string>;
  /** Override the method's default for the 429 retry policy. */
  idempotent?: boolean;
}

/**
 * Raw Jira REST through jiragate with the connection's credential injected. Jira's status,
 * headers and body come back unchanged as a `Response`; only jiragate's own refusals throw.
 */
export class Proxy {
  constructor(private readonly connector: Connector) {}

  request(method: string, path: string, options: ProxyRequestOptions = {}): Promise<Response> {
    const m = method.toUpperCase();
    const p = path.replace(/^\/+/, "");
    if (!p) throw new TypeError("path must name a Jira REST path, e.g. rest/api/3/myself");
    return this.connector.client.send({
      method: m,
      path: `${CONNECTORS}/${seg(this.connector.id)}/proxy/${p}`,
      query: options.query,
      json: options.json,
      body: options.body,
      headers: options.headers,
      idempotent: options.idempotent ?? IDEMPOTENT_METHODS.has(m),
      raiseErrors: false,
    });
  }
  get(path: string, options?: ProxyRequestOptions): Promise<Response> {
    return this.request("GET", path, options);
  }
  post(path: string, options?: ProxyRequestOptions): Promise<Response> {
    return this.request("POST", path, options);
  }
  put(path: string, options?: ProxyRequestOptions): Promise<Response> {
    return this.request("PUT", path, options);
  }
  delete(path: string, options?: ProxyRequestOptions): Promise<Response> {
    return this.request("DELETE", path, options);
  }
}

export interface ExecuteOptions {
  /** The server refuses actions that write; such a call may also be retried after a 429. */
  readOnly?: boolean;
}

export interface StreamOptions {
  /** Items per page (the action's `limit`); the server's default when absent. */
  pageSize?: number;
  /** Default true: streams read. */
  readOnly?: boolean;
}

/** One connector: describe, execute, stream and proxy. */
export class Connector {
  readonly proxy: Proxy;
  #info: ConnectorView;

  constructor(
    readonly client: Jiragate,
    info: ConnectorView,
  ) {
    this.#info = info;
    this.proxy = new Proxy(this);
  }

  get id(): string {
    return this.#info.id;
  }

  get info(): ConnectorView {
    return this.#info;
  }

  async reload(): Promise<ConnectorView> {
    this.#info = await this.client.connectors.get(this.id);
    return this.#info;
  }

  check(): Promise<CheckResponse> {
    return this.client.connectors.check(this.id);
  }

  delete(): Promise<void> {
    return this.client.connectors.delete(this.id);
  }

  /** Entities, actions and the JSON Schemas of their params (optionally filtered). */
  describe(filter?: string): Promise<Description> {
    return this.client.json<Description>({
      method: "GET",
      path: `${CONNECTORS}/${seg(this.id)}/describe`,
      query: { filter },
      idempotent: true,
    });
  }

  /**
   * Run one catalog action. `data` is an object or an array; paged actions return one page and
   * `next_page_token` (pass it back as `params.page_token`, or use `stream`).
   */
  execute<T = unknown>(
    entity: string,
    action: string,
    params: Record<string, unknown> = {},
    options: ExecuteOptions = {},
  ): Promise<ExecuteResult<T>> {
    const json: Record<string, unknown> = { entity, action, params };
    if (options.readOnly) json["read_only"] = true;
    return this.client.json<ExecuteResult<T>>({
      method: "POST",
      path: `${CONNECTORS}/${seg(this.id)}/execute`,
      json,
      idempotent: options.readOnly === true,
    });
  }

  /** Every page of a paged action, each requested when the previous one has been consumed. */
  async *pages<T = unknown>(
    entity: string,
    action: string,
    params: Record<string, unknown> = {},
    options: StreamOptions = {},
  ): AsyncGenerator<ExecuteResult<T>, void, undefined> {
    const p: Record<string, unknown> = { ...params };
    if (options.pageSize !== undefined) p["limit"] = options.pageSize;
    const seen = new Set<string>();
    for (;;) {
      const page = await this.execute<T>(entity, action, p, { readOnly: options.readOnly ?? true });
      yield page;
      const token = page.next_page_token;
      if (!token) return;
      if (seen.has(token)) throw new Error(`the server repeated page token ${token}; stopping`);
      seen.add(token);
      p["page_token"] = token;
    }
  }

  /** Every item of every page, in constant memory (one page held at a time). */
  async *stream<T = unknown>(
    entity: string,
    action: string,
    params: Record<string, unknown> = {},
    options: StreamOptions = {},
  ): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages<T | T[]>(entity, action, params, options)) {
      if (Array.isArray(page.data)) yield* page.data as T[];
      else if (page.data !== null && page.data !== undefined) yield page.data as T;
    }
  }
}
