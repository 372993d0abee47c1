// jiragate console: progressive enhancement only. Every page works without this file.
// Written for this project; no dependencies. Loaded with `defer` (the CSP forbids inline script).
"use strict";

// Auth type: show the fields of the chosen kind.
function setupAuthSwitch() {
  const sw = document.querySelector("[data-auth-switch]");
  if (!sw) return;
  const apply = () => {
    document.querySelectorAll("[data-auth]").forEach((el) => {
      el.hidden = !el.dataset.auth.split(" ").includes(sw.value);
    });
    const save = document.getElementById("save");
    if (save) save.textContent = sw.value === "oauth" ? "Connect with Atlassian" : "Save and test";
  };
  sw.addEventListener("change", apply);
  apply();
  const client = document.getElementById("oauth_client");
  const edit = document.querySelector("[data-client-edit]");
  if (client && edit) {
    client.addEventListener("change", () => { edit.href = "/console/oauth-clients/" + encodeURIComponent(client.value); });
  }
}

// Scope picker: the multi-select becomes "available" and "selected" lists with
// add/remove buttons. The original select stays the one that is submitted.
function setupPickers() {
  document.querySelectorAll("[data-picker]").forEach((box) => {
    const source = box.querySelector("select[multiple]");
    if (!source) return;
    const mk = (tag, attrs, text) => {
      const el = document.createElement(tag);
      Object.entries(attrs || {}).forEach(([k, v]) => el.setAttribute(k, v));
      if (text) el.textContent = text;
      return el;
    };
    const id = source.id;
    const avail = mk("select", { multiple: "", size: "10", id: id + "-available", "aria-label": "Available scopes" });
    const chosen = mk("select", { multiple: "", size: "10", id: id + "-selected", "aria-label": "Selected scopes" });
    const buttons = mk("div", { class: "buttons" });
    const addSel = mk("button", { type: "button", id: id + "-add" }, "Add selected →");
    const addAll = mk("button", { type: "button", id: id + "-add-all" }, "Add all →");
    const remSel = mk("button", { type: "button", id: id + "-remove" }, "← Remove selected");
    const remAll = mk("button", { type: "button", id: id + "-remove-all" }, "← Remove all");
    [addSel, addAll, remSel, remAll].forEach((b) => buttons.appendChild(b));
    const filter = mk("input", { type: "search", id: id + "-filter", placeholder: "Filter scopes", "aria-label": "Filter available scopes" });
    const render = () => {
      const q = filter.value.trim().toLowerCase();
      avail.replaceChildren(); chosen.replaceChildren();
      Array.from(source.options).forEach((o) => {
        const copy = mk("option", { value: o.value, title: o.title }, o.textContent);
        if (o.selected) chosen.appendChild(copy);
        else if (!q || o.textContent.toLowerCase().includes(q)) avail.appendChild(copy);
      });
    };
    const move = (list, all, to) => {
      const values = new Set(Array.from(list.options).filter((o) => all || o.selected).map((o) => o.value));
      Array.from(source.options).forEach((o) => { if (values.has(o.value)) o.selected = to; });
      render();
    };
    addSel.addEventListener("click", () => move(avail, false, true));
    addAll.addEventListener("click", () => move(avail, true, true));
    remSel.addEventListener("click", () => move(chosen, false, false));
    remAll.addEventListener("click", () => move(chosen, true, false));
    avail.addEventListener("dblclick", () => move(avail, false, true));
    chosen.addEventListener("dblclick", () => move(chosen, false, false));
    filter.addEventListener("input", render);
    const lists = mk("div", { class: "picker-lists" });
    const left = mk("div"); left.appendChild(filter); left.appendChild(avail);
    lists.appendChild(left); lists.appendChild(buttons); lists.appendChild(chosen);
    source.hidden = true;
    source.removeAttribute("id");
    const label = box.querySelector("label[for='" + id + "']");
    if (label) label.setAttribute("for", id + "-available");
    source.insertAdjacentElement("afterend", lists);
    render();
  });
}

// Copy buttons: data-copy="#element".
function setupCopy() {
  document.querySelectorAll("[data-copy]").forEach((b) => {
    b.addEventListener("click", async () => {
      const el = document.querySelector(b.dataset.copy);
      if (!el) return;
      try {
        await navigator.clipboard.writeText(el.textContent.trim());
        b.textContent = "Copied";
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(el);
        const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        b.textContent = "Selected: press Ctrl+C";
      }
    });
  });
}

// JSON text areas say at once when their text is not JSON.
function setupJson() {
  document.querySelectorAll("textarea[data-json]").forEach((t) => {
    const check = () => {
      const v = t.value.trim();
      if (!v) { t.setCustomValidity(""); return; }
      try { JSON.parse(v); t.setCustomValidity(""); }
      catch (e) { t.setCustomValidity("Not valid JSON: " + e.message); }
    };
    t.addEventListener("input", () => { check(); t.reportValidity(); });
    check();
  });
}

// Choosing a playground action loads its form.
function setupAutosubmit() {
  document.querySelectorAll("form[data-autosubmit] select").forEach((s) => {
    s.addEventListener("change", () => s.form.submit());
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupAuthSwitch();
  setupPickers();
  setupCopy();
  setupJson();
  setupAutosubmit();
});
