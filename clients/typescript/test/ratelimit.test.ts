// The client's 429 policy against jiragate's own per-key limit (one request, refilled at one
// per second): it waits for `Retry-After` and retries idempotent calls, never a POST, and not
// at all with `maxRetries: 0`.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { RateLimitedError } from "../src/index.js";
import { startStackWith, type Stack } from "./support.js";

let stack: Stack;

before(async () => {
  stack = await startStackWith({ JIRAGATE_RATE_LIMIT_PER_KEY: "1:1" });
});

after(async () => {
  await stack?.stop();
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a 429 from jiragate", () => {
  it("is waited out and retried for idempotent calls only", async () => {
    const jg = stack.server.client();
    await jg.connectors.list(); // the one request of the burst
    const started = performance.now();
    await jg.connectors.list(); // 429 with Retry-After, then retried
    assert.ok(performance.now() - started >= 900, "the client waited for Retry-After");
    await pause(1100);
    await jg.connectors.list();
    await assert.rejects(
      jg.keys.create({ name: "not-retried", scopes: ["execute"] }), // a POST: never retried
      (e: unknown) => e instanceof RateLimitedError && e.status === 429 && (e.retryAfter ?? 0) >= 1,
    );
  });

  it("is not retried with maxRetries: 0", async () => {
    const jg = stack.server.client({ maxRetries: 0 });
    await pause(1100);
    await jg.connectors.list();
    await assert.rejects(jg.connectors.list(), RateLimitedError);
  });
});
