// The third-party workload for npm `jira.js` (see workload.py, which runs this script once per
// target and compares the outcomes). Prints one JSON line: {step: ["ok", value] | ["error", why]
// | ["skipped", step]}. Configuration comes from the environment:
//   COMPAT_BASE_URL  the simulator's site or gateway base, or jiragate's proxy base
//   COMPAT_AUTH      ["basic", email, apiToken] or ["bearer", token]
//   COMPAT_PROJECT   project key;  COMPAT_ATTACHMENT_HEX  the attachment's bytes
import { createAgileClient, createCloudClient } from "jira.js";
import { createClient } from "jira.js/core";

const base = process.env.COMPAT_BASE_URL;
const auth = JSON.parse(process.env.COMPAT_AUTH);
const project = process.env.COMPAT_PROJECT;
const attachment = Buffer.from(process.env.COMPAT_ATTACHMENT_HEX, "hex");

const client = createClient({
  host: base,
  auth: auth[0] === "basic" ? { type: "basic", email: auth[1], apiToken: auth[2] } : { type: "bearer", token: auth[1] },
  onSchemaMismatch: "silent",
});
const jira = createCloudClient(client);
const agile = createAgileClient(client);

const adf = (text) => ({ type: "doc", version: 1, content: [{ type: "paragraph", content: [{ type: "text", text }] }] });
const adfText = (doc) => {
  const out = [];
  const walk = (n) => {
    if (n && typeof n === "object") {
      if (n.type === "text") out.push(String(n.text ?? ""));
      for (const c of n.content ?? []) walk(c);
    }
  };
  walk(doc);
  return out.join("");
};
const why = (e) => `${e?.constructor?.name ?? "Error"}${e?.status ? ` ${e.status}` : ""}`;

const out = {};
const held = {};
async function step(name, fn, ...needs) {
  for (const n of needs) {
    if (out[n]?.[0] !== "ok") {
      out[name] = ["skipped", n];
      return;
    }
  }
  try {
    out[name] = ["ok", await fn()];
  } catch (e) {
    out[name] = ["error", why(e)];
  }
}

await step("myself", async () => (await jira.myself.getCurrentUser()).accountId);
await step("projects", async () => (await jira.projects.searchProjects({ orderBy: "key" })).values.map((p) => p.key).sort());
await step("get", async () => {
  const i = await jira.issues.getIssue({ issueIdOrKey: `${project}-1` });
  return [i.key, i.fields.summary];
});
await step("search", async () => {
  const r = await jira.issueSearch.searchAndReconsileIssuesUsingJql({ jql: `project = ${project} ORDER BY key`, maxResults: 5 });
  return r.issues.map((i) => i.key);
});
await step("create", async () => {
  const created = await jira.issues.createIssue({
    fields: { project: { key: project }, summary: "compat: created", issuetype: { name: "Task" }, description: adf("made by a third-party client") },
  });
  held.key = created.key;
  const back = await jira.issues.getIssue({ issueIdOrKey: created.key });
  return [created.key.split("-")[0], adfText(back.fields.description)];
});
await step("update", async () => {
  await jira.issues.editIssue({ issueIdOrKey: held.key, fields: { summary: "compat: updated" } });
  return (await jira.issues.getIssue({ issueIdOrKey: held.key })).fields.summary;
}, "create");
await step("comment_add", async () => {
  const c = await jira.issueComments.addComment({ issueIdOrKey: held.key, body: adf("first words") });
  held.comment = c.id;
  return adfText((await jira.issueComments.getComment({ issueIdOrKey: held.key, id: c.id })).body);
}, "create");
await step("comment_update", async () => {
  await jira.issueComments.updateComment({ issueIdOrKey: held.key, id: held.comment, body: { body: adf("second words") } });
  return adfText((await jira.issueComments.getComment({ issueIdOrKey: held.key, id: held.comment })).body);
}, "comment_add");
await step("comment_delete", async () => {
  await jira.issueComments.deleteComment({ issueIdOrKey: held.key, id: held.comment });
  return (await jira.issueComments.getComments({ issueIdOrKey: held.key })).comments.length;
}, "comment_add");
await step("transitions", async () => {
  const ts = (await jira.issues.getTransitions({ issueIdOrKey: held.key })).transitions;
  const target = ts[ts.length - 1];
  await jira.issues.doTransition({ issueIdOrKey: held.key, transition: { id: target.id } });
  return (await jira.issues.getIssue({ issueIdOrKey: held.key })).fields.status.name === target.to.name;
}, "create");
await step("attachment_upload", async () => {
  const [a] = await jira.issueAttachments.addAttachment({
    issueIdOrKey: held.key,
    attachments: { filename: "compat.bin", content: attachment },
  });
  held.attachment = a.id;
  return [a.filename, a.size];
}, "create");
await step("attachment_download", async () => {
  const got = await jira.issueAttachments.getAttachmentContent({ id: held.attachment });
  return Buffer.from(got).equals(attachment);
}, "attachment_upload");
await step("boards", async () => {
  const bs = (await agile.board.getAllBoards()).values;
  held.board = bs[0].id;
  return bs.map((b) => b.name).sort();
});
await step("sprints", async () => (await agile.board.getAllSprints({ boardId: held.board })).values.map((s) => s.name).sort(), "boards");
await step("delete", async () => {
  await jira.issues.deleteIssue({ issueIdOrKey: held.key });
  try {
    await jira.issues.getIssue({ issueIdOrKey: held.key });
    return "still there";
  } catch (e) {
    return why(e);
  }
}, "create");

console.log(JSON.stringify(out));
