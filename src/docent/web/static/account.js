// The account page: one's own API keys (the secret shown once) and changing one's password.

import { getJSON, request, sendJSON } from "./api.js";
import { announce, confirmDialog, copyText, field, formatDate, h } from "./dom.js";

let keysBody;

export async function render(main, user) {
  keysBody = h("tbody");
  main.replaceChildren(
    h("h1", { text: "Account" }),
    h("p", { class: "muted", text: `Signed in as ${user.email} (${user.role}).` }),
    keysSection(),
    passwordSection());
  await loadKeys();
}

function keysSection() {
  const name = h("input", { type: "text", id: "key-name", required: true, maxlength: 200, autocomplete: "off" });
  const reveal = h("div", { role: "status" });
  const form = h("form", { class: "row" }, field("Key name", name, "e.g. the integration that will use it").field,
    h("button", { type: "submit", class: "primary", text: "Create key" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!name.value.trim()) return;
    const key = await sendJSON("POST", "/api/v1/api-keys", { name: name.value.trim() });
    name.value = "";
    const copied = h("span", { class: "muted", "aria-live": "polite" });
    const copy = h("button", { type: "button", text: "Copy key" });
    copy.addEventListener("click", async () => { copied.textContent = (await copyText(key.key)) ? "Copied." : "Select and copy it by hand."; });
    reveal.replaceChildren(h("div", { class: "card stack" },
      h("p", {}, h("strong", { text: `Key “${key.name}” created. ` }), "Copy it now: it is shown only once."),
      h("div", { class: "secret" }, h("code", { text: key.key }), copy, copied)));
    copy.focus();
    await loadKeys();
  });
  return h("section", { "aria-labelledby": "keys-h", class: "stack" },
    h("h2", { id: "keys-h", text: "API keys" }),
    h("p", { class: "muted", text: "For integrations: send it as Authorization: Bearer <key>. It acts as you." }),
    form, reveal,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Starts with", "Created", "Last used", ""].map((c) => h("th", { scope: "col", text: c })))),
      keysBody)));
}

async function loadKeys() {
  const data = await getJSON("/api/v1/api-keys");
  keysBody.replaceChildren(...data.items.map((k) => {
    const revoke = h("button", { type: "button", class: "danger", "aria-label": `Revoke key ${k.name}`, text: "Revoke" });
    revoke.addEventListener("click", async () => {
      if (!(await confirmDialog(`Revoke the key “${k.name}”? Integrations using it stop working.`, "Revoke"))) return;
      await request("DELETE", `/api/v1/api-keys/${encodeURIComponent(k.id)}`);
      announce("Key revoked.");
      await loadKeys();
    });
    return h("tr", {}, h("td", { text: k.name }), h("td", {}, h("code", { text: k.prefix })),
      h("td", { text: formatDate(k.created_at) }), h("td", { text: k.last_used_at ? formatDate(k.last_used_at) : "never" }),
      h("td", {}, revoke));
  }));
  if (!data.items.length) keysBody.append(h("tr", {}, h("td", { colspan: 5, class: "muted", text: "No keys yet." })));
}

function passwordSection() {
  const current = h("input", { type: "password", id: "current-password", autocomplete: "current-password", required: true });
  const next = h("input", { type: "password", id: "new-password", autocomplete: "new-password", required: true, minlength: 12 });
  const again = h("input", { type: "password", id: "repeat-password", autocomplete: "new-password", required: true });
  const message = h("p", { role: "status" });
  const form = h("form", { class: "card", style: null },
    field("Current password", current).field,
    field("New password", next, "At least 12 characters.").field,
    field("Repeat the new password", again).field,
    message,
    h("button", { type: "submit", class: "primary", text: "Change password" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.className = "error-text";
    if (next.value.length < 12) { message.textContent = "The new password needs at least 12 characters."; return; }
    if (next.value !== again.value) { message.textContent = "The two new passwords differ."; return; }
    try {
      await sendJSON("POST", "/api/v1/auth/password", { current_password: current.value, new_password: next.value });
      form.reset();
      message.className = "ok-text";
      message.textContent = "Password changed. Your other sessions were signed out.";
    } catch (error) {
      message.textContent = error.message;
    }
  });
  return h("section", { "aria-labelledby": "password-h" }, h("h2", { id: "password-h", text: "Change password" }), form);
}
