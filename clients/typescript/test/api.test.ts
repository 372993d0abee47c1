// The client against a real `jiragate serve` and `atlassian-sim` (5,000 issues per site).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import {
  AuthenticationError,
  ConfigurationError,
  Connector,
  InvalidRequestError,
  Jiragate,
  MissingScopeError,
  NotFoundError,
  PermissionDeniedError,
} from "../src/index.js";
import { startStack, type Sim, type Server, type Stack } from "./support.js";

const ISSUES_PER_SITE = 5000;
const JQL = "project in (ENG, OPS, MKT, HELP) ORDER BY key";

let stack: Stack;
let server: Server;
let sim: Sim;
let jg: Jiragate;
let jira: Connector;

before(async () => {
  stack = await startStack("--issues", String(ISSUES_PER_SITE));
  server = stack.server;
  sim = stack.sim;
  jg = server.client();
  const u = sim.user(0);
  await jg.connectors.create({ workspaceName: "w", name: "jira", subdomain: sim.subdomain, email: u.email, apiToken: u.api_token });
  jira = await jg.connect("jira", { workspaceName: "w", name: "jira" });
});

after(async () => {
  await stack?.stop();
});

describe("connectors", () => {
  it("creates by API token, lists, gets, checks and deletes", async () => {
    const u = sim.user(0);
    const created = await jg.connectors.create({ workspaceName: "crud", name: "by-token", subdomain: sim.subdomain, email: u.email, apiToken: u.api_token });
    assert.equal(created.auth_kind, "api_token");
    assert.equal(created.status, "healthy");
    assert.equal(created.owner, "installation");
    assert.ok(!JSON.stringify(created).includes(u.api_token), "the secret never comes back");

    assert.deepEqual((await jg.connectors.list({ workspaceName: "crud" })).map((c) => c.id), [created.id]);
    assert.equal((await jg.connectors.get("crud/by-token")).id, created.id);
    const conn = await jg.connect("jira", { connectorId: created.id });
    assert.equal((await conn.check()).status, "healthy");

    await conn.delete();
    await assert.rejects(jg.connectors.get(created.id), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.status, 404);
      assert.equal(e.type, "https://jiragate.dev/problems/not_found");
      return true;
    });
  });

  it("reads url and key from the environment", async () => {
    const saved = { url: process.env["JIRAGATE_URL"], key: process.env["JIRAGATE_API_KEY"] };
    try {
      process.env["JIRAGATE_URL"] = server.url;
      process.env["JIRAGATE_API_KEY"] = server.adminKey;
      assert.ok(Array.isArray(await new Jiragate().connectors.list()));
      process.env["JIRAGATE_API_KEY"] = "jg_wrong";
      await assert.rejects(new Jiragate().connectors.list(), AuthenticationError);
      delete process.env["JIRAGATE_URL"];
      assert.throws(() => new Jiragate(), ConfigurationError);
    } finally {
      for (const [k, v] of [["JIRAGATE_URL", saved.url], ["JIRAGATE_API_KEY", saved.key]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("acts for another organization with organizationId", async () => {
    const org = await jg.organizations.create({ name: "ts-tenant" });
    const other = server.client({ organizationId: org.id });
    assert.deepEqual(await other.connectors.list(), []);
    await assert.rejects(other.connectors.get(jira.id), NotFoundError);
  });
});

describe("describe and execute", () => {
  it("describes the catalog with params schemas", async () => {
    const d = await jira.describe();
    assert.equal(d.connector_id, jira.id);
    const search = d.entities.find((e) => e.entity === "issues")?.actions.find((a) => a.action === "search");
    assert.ok(search);
    assert.equal(search.read_only, true);
    assert.equal(search.pagination, "next_page_token");
    assert.ok("jql" in (search.params_schema["properties"] as object));
    const count = d.entities.reduce((n, e) => n + e.actions.length, 0);
    assert.equal(count, d.action_count);
  });

  it("executes an action with an object result", async () => {
    const me = await jira.execute<{ emailAddress: string; accountId: string }>("myself", "get");
    assert.equal(me.data.emailAddress, sim.user(0).email);
    assert.equal(me.next_page_token ?? null, null);
  });

  it("executes an action with an array result, page by page", async () => {
    const projects = await jira.execute<{ key: string }[]>("projects", "list");
    assert.ok(Array.isArray(projects.data));
    for (const k of ["ENG", "OPS", "MKT", "HELP"]) assert.ok(projects.data.some((p) => p.key === k), k);

    const first = await jira.execute<{ key: string }[]>("issues", "search", { jql: "project = ENG ORDER BY key", limit: 3 });
    assert.equal(first.data.length, 3);
    assert.ok(first.next_page_token);
    const second = await jira.execute<{ key: string }[]>("issues", "search", { jql: "project = ENG ORDER BY key", limit: 3, page_token: first.next_page_token });
    assert.equal(second.data.length, 3);
    assert.ok(!second.data.some((i) => first.data.some((j) => j.key === i.key)));
  });

  it("streams all 5,000 issues", async () => {
    const r = await jira.proxy.post("rest/api/3/search/approximate-count", { json: { jql: JQL } });
    const expected = ((await r.json()) as { count: number }).count;
    assert.ok(expected >= ISSUES_PER_SITE, String(expected));
    const keys = new Set<string>();
    let n = 0;
    for await (const issue of jira.stream<{ key: string }>("issues", "search", { jql: JQL, fields: ["summary"] }, { pageSize: 100 })) {
      n++;
      keys.add(issue.key);
    }
    assert.equal(n, expected);
    assert.equal(keys.size, n, "no issue twice");
  });

  it("fetches pages lazily", async () => {
    const sent: string[] = [];
    const counting: typeof fetch = (input, init) => {
      sent.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    };
    const conn = await server.client({ fetch: counting }).connect("jira", { connectorId: jira.id });
    sent.length = 0;
    const it = conn.stream<{ key: string }>("issues", "search", { jql: JQL }, { pageSize: 100 });
    assert.equal(sent.length, 0);
    for (let i = 0; i < 100; i++) assert.ok((await it.next()).value);
    assert.equal(sent.length, 1, "one page for the first 100 items");
    await it.next();
    assert.equal(sent.length, 2);
    await it.return();
  });
});

describe("typed errors", () => {
  it("404 for an unknown connector", async () => {
    await assert.rejects(jg.connect("jira", { workspaceName: "w", name: "nope" }), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.status, 404);
      assert.equal(e.kind, "not_found");
      return true;
    });
  });

  it("422 with the field for params outside the schema", async () => {
    await assert.rejects(jira.execute("issues", "search", { jql: "project = ENG", limit: 0 }), (e: unknown) => {
      assert.ok(e instanceof InvalidRequestError);
      assert.equal(e.status, 422);
      assert.equal(e.field, "limit");
      return true;
    });
  });

  it("missing OAuth scope of a connection", async () => {
    const info = await server.oauthConnect({ workspaceName: "scopes", name: "read-only", scopes: ["read:jira-user", "read:jira-work"] });
    const conn = await jg.connect("jira", { connectorId: info.id });
    assert.ok((await conn.execute<{ accountId: string }>("myself", "get")).data.accountId);
    await assert.rejects(conn.execute("issues", "create", { project: "ENG", summary: "x", issue_type: "Task" }), (e: unknown) => {
      assert.ok(e instanceof MissingScopeError);
      assert.equal(e.status, 403);
      assert.equal(e.scope, "write:jira-work");
      assert.equal(e.action, "issues.create");
      assert.ok(e.hint?.includes("write:jira-work"));
      return true;
    });
  });

  it("missing scope of the API key", async () => {
    const limited = server.client({ apiKey: await server.keyWith("proxy") });
    const conn = await limited.connect("jira", { connectorId: jira.id });
    await assert.rejects(conn.execute("myself", "get"), (e: unknown) => {
      assert.ok(e instanceof PermissionDeniedError);
      assert.equal(e.requiredScope, "execute");
      return true;
    });
  });
});

describe("proxy", () => {
  it("passes Jira's answers through", async () => {
    const me = await jira.proxy.get("rest/api/3/myself");
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { emailAddress: string }).emailAddress, sim.user(0).email);
    const page = await jira.proxy.get("rest/api/3/project/search", { query: { maxResults: 2 } });
    assert.equal(((await page.json()) as { values: unknown[] }).values.length, 2);
    const missing = await jira.proxy.get("rest/api/3/issue/ENG-999999");
    assert.equal(missing.status, 404, "Jira's 404 is a response, not an exception");
    assert.ok(((await missing.json()) as { errorMessages: string[] }).errorMessages.length > 0);
  });

  it("a spent Jira budget is paced by jiragate: the next call waits for the window, no 429", async () => {
    const u = sim.user(1);
    const info = await jg.connectors.create({ workspaceName: "limits", name: "ts", subdomain: sim.subdomain, email: u.email, apiToken: u.api_token });
    const conn = await jg.connect("jira", { connectorId: info.id });
    try {
      // Into a fresh 60-second rate window that ends in about 3 seconds.
      const toEnd = 60 - ((await sim.now()) % 60);
      await sim.advance(toEnd + 57);
      await sim.control("rate-limit", { limit: 1, credential: u.api_token });
      const before = await sim.stats();

      assert.equal((await conn.proxy.get("rest/api/3/myself")).status, 200);
      const started = Date.now();
      const again = await conn.proxy.get("rest/api/3/myself");
      const waited = Date.now() - started;
      const after = await sim.stats();
      assert.equal(again.status, 200, await again.text());
      // The first answer said the budget was spent (X-RateLimit-Remaining: 0): jiragate held
      // the connection until the window reset, so Jira never had to answer 429.
      assert.equal(after.rate_limited - before.rate_limited, 0, "no 429 from Jira");
      assert.equal(after.retry_after_violations, before.retry_after_violations, "nothing early");
      assert.ok(waited >= 900, String(waited));
    } finally {
      await sim.control("rate-limit", { limit: null, credential: u.api_token });
      await conn.delete();
    }
  });
});
