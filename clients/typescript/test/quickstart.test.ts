// The README's quick start, run as a test (the README shows the lines between the markers).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { after, before, it } from "node:test";
import { fileURLToPath } from "node:url";

import { Jiragate } from "../src/index.js";
import { startStack, type Stack } from "./support.js";

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
let stack: Stack;

before(async () => {
  stack = await startStack("--issues", "120");
});
after(async () => {
  await stack?.stop();
});

it("runs the README quick start", async () => {
  process.env["JIRAGATE_URL"] = stack.server.url;
  process.env["JIRAGATE_API_KEY"] = stack.server.adminKey;
  const { email, api_token: apiToken } = stack.sim.user(0);
  const printed: unknown[] = [];
  const console = { log: (...args: unknown[]) => printed.push(args.join(" ")) };
  // quickstart:start
  const jg = new Jiragate(); // JIRAGATE_URL and JIRAGATE_API_KEY from the environment
  await jg.connectors.create({ workspaceName: "quickstart", name: "jira", subdomain: "acme", email, apiToken });
  const jira = await jg.connect("jira", { workspaceName: "quickstart", name: "jira" });
  const me = await jira.execute<{ displayName: string }>("myself", "get");
  console.log(me.data.displayName);
  for await (const issue of jira.stream<{ key: string }>("issues", "search", { jql: "project = ENG" })) {
    console.log(issue.key);
  }
  // quickstart:end
  const count = (await jira.execute<{ count: number }>("issues", "count", { jql: "project = ENG" })).data.count;
  assert.ok(count > 10);
  assert.equal(printed.length, 1 + count);
  assert.ok(String(printed[1]).startsWith("ENG-"));
});

it("README shows the quick start", () => {
  const src = readFileSync(resolve(PKG, "test", "quickstart.test.ts"), "utf8");
  const block = src.split("// quickstart:start\n")[1]!.split("  // quickstart:end")[0]!;
  const dedented = block
    .split("\n")
    .map((l) => l.replace(/^ {2}/, ""))
    .join("\n");
  assert.ok(readFileSync(resolve(PKG, "README.md"), "utf8").includes(dedented), dedented);
});
