// getCredential against its own simulator whose access tokens live ACCESS_TTL seconds. The
// simulated clock is moved past expiry, which kills a token upstream; `jiragate serve` cannot see
// the simulator's clock, so the test waits (bounded) until the server's own clock agrees the
// token is due, and asks again. The client only ever talks to jiragate.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { InvalidRequestError, NotFoundError, PermissionDeniedError, type TokenResponse } from "../src/index.js";
import { startStack, type Server, type Stack } from "./support.js";

const ACCESS_TTL = 20;
/** jiragate hands out no token with less life left than this: 30 s, or a quarter of the
 * token's lifetime if that is less (`refresh_margin` in crates/auth): 5 s here. */
const SERVER_SKEW = Math.min(30, ACCESS_TTL / 4);

let stack: Stack;
let server: Server;

before(async () => {
  stack = await startStack("--issues", "20", "--access-token-ttl", String(ACCESS_TTL));
  server = stack.server;
  await server.oauthConnect({ workspaceName: "tenant-a", name: "shared" });
  await server.oauthConnect({ workspaceName: "tenant-a", name: "alice", owner: "u-42", simUser: 1 });
});

after(async () => {
  await stack?.stop();
});

async function jiraAccepts(cred: TokenResponse): Promise<number> {
  const r = await fetch(`${cred.base_url}/rest/api/3/myself`, { headers: { Authorization: `${cred.token_type} ${cred.access_token}` } });
  await r.body?.cancel();
  return r.status;
}

describe("getCredential", () => {
  it("hands out installation and user tokens that keep working after expiry", async () => {
    const sim = stack.sim;
    const sent: string[] = [];
    const recording: typeof fetch = (input, init) => {
      sent.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    };
    const jg = server.client({ apiKey: await server.keyWith("credentials:read"), fetch: recording });

    const inst = await jg.getCredential({ tenantId: "tenant-a", credentialFor: "installation" });
    const user = await jg.getCredential({ tenantId: "tenant-a", userId: "u-42", credentialFor: "user" });
    assert.notEqual(inst.connector_id, user.connector_id);
    for (const c of [inst, user]) {
      assert.equal(c.token_type, "Bearer");
      assert.ok(c.base_url.startsWith(`${sim.info.api_url.replace(/\/+$/, "")}/ex/jira/`), c.base_url);
      assert.ok(Date.parse(c.expires_at) > Date.now());
      assert.equal(await jiraAccepts(c), 200);
    }

    const refreshesBefore = (await sim.stats()).token_requests.refresh_token;
    await sim.advance(ACCESS_TTL + 3600);
    assert.equal(await jiraAccepts(inst), 401, "expired upstream");
    assert.equal(await jiraAccepts(user), 401, "expired upstream");

    const due = Math.max(Date.parse(inst.expires_at), Date.parse(user.expires_at)) - SERVER_SKEW * 1000 + 500;
    await new Promise((r) => setTimeout(r, Math.min(ACCESS_TTL * 1000, Math.max(0, due - Date.now()))));

    const inst2 = await jg.getCredential({ tenantId: "tenant-a", credentialFor: "installation" });
    const user2 = await jg.getCredential({ tenantId: "tenant-a", userId: "u-42", credentialFor: "user" });
    assert.equal(inst2.connector_id, inst.connector_id);
    assert.equal(user2.connector_id, user.connector_id);
    assert.notEqual(inst2.access_token, inst.access_token);
    assert.notEqual(user2.access_token, user.access_token);
    assert.equal(await jiraAccepts(inst2), 200);
    assert.equal(await jiraAccepts(user2), 200);
    assert.ok((await sim.stats()).token_requests.refresh_token >= refreshesBefore + 2, "the server refreshed");
    assert.deepEqual([...new Set(sent)], [`${server.url}/api/v1/credentials/token`], "the client only asked jiragate");
  });

  it("by connector id", async () => {
    const jg = server.client({ apiKey: await server.keyWith("credentials:read") });
    const shared = await jg.connect("jira", { workspaceName: "tenant-a", name: "shared" });
    const cred = await jg.getCredential({ connectorId: shared.id });
    assert.equal(cred.connector_id, shared.id);
    assert.equal(await jiraAccepts(cred), 200);
  });

  it("typed errors", async () => {
    await assert.rejects(server.client().getCredential({ tenantId: "tenant-a", credentialFor: "installation" }), (e: unknown) => {
      assert.ok(e instanceof PermissionDeniedError, "admin does not imply credentials:read");
      assert.equal(e.requiredScope, "credentials:read");
      return true;
    });
    const jg = server.client({ apiKey: await server.keyWith("credentials:read") });
    await assert.rejects(jg.getCredential({ tenantId: "tenant-a", userId: "nobody", credentialFor: "user" }), NotFoundError);
    await assert.rejects(jg.getCredential({ tenantId: "tenant-a", credentialFor: "user" }), TypeError);

    const u = stack.sim.user(0);
    await server.client().connectors.create({ workspaceName: "tenant-b", name: "token", subdomain: stack.sim.subdomain, email: u.email, apiToken: u.api_token });
    await assert.rejects(jg.getCredential({ tenantId: "tenant-b", credentialFor: "installation" }), (e: unknown) => {
      assert.ok(e instanceof InvalidRequestError, "API-token connections have no access token");
      assert.equal(e.field, "connector_id");
      return true;
    });
  });
});
