// Administration: users, groups and their members; usage, audit, feedback and index are in admin-ops.js.

import { ApiError, getJSON, request, sendJSON } from "./api.js";
import { announce, confirmDialog, field, formatDate, h, select } from "./dom.js";
import { auditSection, feedbackSection, indexSection, usageSection } from "./admin-ops.js";

const SECTIONS = [
  ["users", "Users", usersSection],
  ["groups", "Groups", groupsSection],
  ["usage", "Usage", usageSection],
  ["audit", "Audit log", auditSection],
  ["feedback", "Feedback", feedbackSection],
  ["index", "Index health", indexSection],
];

export async function render(main, user) {
  if (user.role !== "admin") {
    main.replaceChildren(h("h1", { text: "Not allowed" }), h("p", { text: "Administration needs the admin role." }));
    return;
  }
  const current = window.location.pathname.split("/")[2] || "users";
  const [, title, draw] = SECTIONS.find(([key]) => key === current) || SECTIONS[0];
  const body = h("div");
  main.replaceChildren(
    h("h1", { text: `Administration: ${title}` }),
    h("nav", { class: "subnav", "aria-label": "Administration" }, h("ul", {}, SECTIONS.map(([key, label]) =>
      h("li", {}, h("a", { href: `/admin/${key}`, "aria-current": key === current ? "page" : null, text: label }))))),
    body);
  document.title = `${title} · Administration · Docent`;
  await draw(body, user);
}

async function usersSection(body, me) {
  const tbody = h("tbody");
  const message = h("p", { role: "status" });
  const email = h("input", { type: "email", id: "new-user-email", required: true, autocomplete: "off" });
  const password = h("input", { type: "password", id: "new-user-password", required: true, minlength: 12, autocomplete: "new-password" });
  const role = select([["member", "Member"], ["admin", "Admin"]], "member", { id: "new-user-role" });
  const form = h("form", { class: "row card" }, field("Email", email).field, field("Initial password", password, "At least 12 characters").field,
    field("Role", role).field, h("button", { type: "submit", class: "primary", text: "Create user" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const user = await sendJSON("POST", "/api/v1/users", { email: email.value.trim(), password: password.value, role: role.value });
      form.reset();
      message.className = "ok-text";
      message.textContent = `Created ${user.email}.`;
      await load();
    } catch (error) {
      message.className = "error-text";
      message.textContent = error.message;
    }
  });
  async function change(user, changes, done) {
    try {
      await sendJSON("PATCH", `/api/v1/users/${encodeURIComponent(user.id)}`, changes);
      announce(done);
    } catch (error) {
      message.className = "error-text";
      message.textContent = error.message;
    }
    await load();
  }
  async function load() {
    const data = await getJSON("/api/v1/users?page_size=200");
    tbody.replaceChildren(...data.items.map((u) => {
      const roleSelect = select([["member", "Member"], ["admin", "Admin"]], u.role, { "aria-label": `Role of ${u.email}` });
      roleSelect.addEventListener("change", () => change(u, { role: roleSelect.value }, `${u.email} is now ${roleSelect.value}.`));
      const toggle = h("button", { type: "button", class: u.is_active ? "danger" : null,
        text: u.is_active ? "Deactivate" : "Reactivate", "aria-label": `${u.is_active ? "Deactivate" : "Reactivate"} ${u.email}` });
      toggle.disabled = u.id === me.id;
      toggle.addEventListener("click", async () => {
        if (u.is_active && !(await confirmDialog(`Deactivate ${u.email}? Their sessions and keys stop.`, "Deactivate"))) return;
        change(u, { is_active: !u.is_active }, `${u.email} ${u.is_active ? "deactivated" : "reactivated"}.`);
      });
      return h("tr", {}, h("td", { text: u.email }), h("td", {}, roleSelect), h("td", { text: u.is_active ? "active" : "deactivated" }),
        h("td", { text: u.last_login_at ? formatDate(u.last_login_at) : "never" }), h("td", {}, toggle));
    }));
  }
  body.replaceChildren(h("h2", { text: "Add a user" }), form, message, h("h2", { text: "Users" }),
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {},
      ["Email", "Role", "State", "Last sign-in", ""].map((c) => h("th", { scope: "col", text: c })))), tbody)));
  await load();
}

async function groupsSection(body) {
  const list = h("div", { class: "stack" });
  const message = h("p", { role: "status" });
  const name = h("input", { type: "text", id: "new-group", required: true, autocomplete: "off" });
  const form = h("form", { class: "row card" }, field("Group name", name).field, h("button", { type: "submit", class: "primary", text: "Create group" }));
  let users = [];
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await sendJSON("POST", "/api/v1/groups", { name: name.value.trim() });
      form.reset();
      await load();
    } catch (error) {
      message.className = "error-text";
      message.textContent = error.message;
    }
  });
  function groupCard(g) {
    const emails = new Map(users.map((u) => [u.id, u.email]));
    const members = h("ul", {}, g.member_ids.map((id) => {
      const remove = h("button", { type: "button", class: "link", "aria-label": `Remove ${emails.get(id) || id} from ${g.name}`, text: "remove" });
      remove.addEventListener("click", async () => {
        await request("DELETE", `/api/v1/groups/${encodeURIComponent(g.id)}/members/${encodeURIComponent(id)}`);
        await load();
      });
      return h("li", {}, `${emails.get(id) || id} `, remove);
    }));
    if (!g.member_ids.length) members.append(h("li", { class: "muted", text: "No members yet." }));
    const candidates = users.filter((u) => !g.member_ids.includes(u.id));
    const pick = select(candidates.map((u) => [u.id, u.email]), "", { "aria-label": `User to add to ${g.name}` });
    const add = h("button", { type: "submit", text: "Add member", disabled: !candidates.length });
    const addForm = h("form", { class: "row" }, pick, add);
    addForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      await sendJSON("POST", `/api/v1/groups/${encodeURIComponent(g.id)}/members`, { user_id: pick.value });
      await load();
    });
    const del = h("button", { type: "button", class: "danger", text: "Delete group", "aria-label": `Delete group ${g.name}` });
    del.addEventListener("click", async () => {
      if (!(await confirmDialog(`Delete the group “${g.name}”?`))) return;
      await request("DELETE", `/api/v1/groups/${encodeURIComponent(g.id)}`);
      await load();
    });
    return h("section", { class: "card", "aria-label": `Group ${g.name}` }, h("h3", { text: g.name }), members, addForm, h("p", {}, del));
  }
  async function load() {
    const [groups, userPage] = await Promise.all([getJSON("/api/v1/groups?page_size=200"), getJSON("/api/v1/users?page_size=200")]);
    users = userPage.items;
    const cards = await Promise.all(groups.items.map((g) => getJSON(`/api/v1/groups/${encodeURIComponent(g.id)}`)
      .catch((error) => { if (error instanceof ApiError) return g; throw error; })));
    list.replaceChildren(...cards.map(groupCard));
    if (!cards.length) list.append(h("p", { class: "muted", text: "No groups yet." }));
  }
  body.replaceChildren(h("h2", { text: "Add a group" }), form, message, h("h2", { text: "Groups" }), list);
  await load();
}
