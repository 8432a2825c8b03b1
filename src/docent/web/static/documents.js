// The documents page: drop files to upload them, import a web page, and the list, updated live.

import { ApiError, getJSON, sendJSON } from "./api.js";
import { announce, field, formatBytes, formatDate, h, select, statusText, typeLabel } from "./dom.js";
import { uploadAll } from "./upload.js";

const POLL_MS = 2000;
const PAGE_SIZE = 25;
const state = { page: 1, timer: null, owners: new Map(), user: null };
let els = {};

export async function render(main, user) {
  state.user = user;
  const uploadSection = uploadPanel(user);
  const listSection = listPanel();
  main.replaceChildren(h("h1", { text: "Documents" }), uploadSection, listSection);
  if (user.role === "admin") await loadAdminData();
  await refresh();
}

function uploadPanel(user) {
  const input = h("input", { type: "file", multiple: true, id: "upload-input", class: "visually-hidden",
    "aria-label": "Upload documents" });
  const zone = h("div", { class: "dropzone" },
    input,
    h("p", {}, h("label", { for: "upload-input", class: "button primary", text: "Choose files" }), " or drop them here"),
    h("p", { class: "muted", text: "PDF, Word, Markdown, HTML or text; each file is checked on its own." }));
  const tags = h("input", { type: "text", id: "upload-tags", autocomplete: "off" });
  const visibility = select([["private", "Only me"], ["org", "Everyone in the organisation"], ["group", "Groups"]],
    "private", { id: "upload-visibility" });
  const groups = h("select", { id: "upload-groups", multiple: true, size: 3 });
  const groupsField = field("Groups", groups, "Members of these groups may read the files.");
  groupsField.field.hidden = true;
  visibility.addEventListener("change", () => { groupsField.field.hidden = visibility.value !== "group"; });
  if (user.role !== "admin") visibility.querySelector("option[value=group]").remove();
  const list = h("ul", { class: "uploads", "aria-label": "Uploads" });
  const fields = () => {
    const form = new FormData();
    form.append("tags", tags.value);
    form.append("visibility", visibility.value);
    if (visibility.value === "group") form.append("group_ids", [...groups.selectedOptions].map((o) => o.value).join(","));
    return form;
  };
  const send = (files) => {
    if (!files.length) return;
    uploadAll(files, list, fields, () => refresh());
  };
  input.addEventListener("change", () => { send([...input.files]); input.value = ""; });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    send([...event.dataTransfer.files]);
  });
  els.groups = groups;
  return h("section", { "aria-labelledby": "upload-h", class: "stack" },
    h("h2", { id: "upload-h", text: "Add documents" }),
    h("div", { class: "row" }, field("Tags", tags, "Comma-separated").field, field("Visibility", visibility).field,
      groupsField.field),
    zone, list, urlForm(fields));
}

function urlForm() {
  const url = h("input", { type: "url", id: "import-url", required: true, placeholder: "https://…" });
  const message = h("p", { role: "status" });
  const form = h("form", { class: "row" }, field("Import from a web address", url).field,
    h("button", { type: "submit", text: "Import" }), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "Fetching…";
    message.className = "";
    try {
      const body = { url: url.value.trim(), tags: document.getElementById("upload-tags").value.split(",").map((t) => t.trim()).filter(Boolean),
        visibility: document.getElementById("upload-visibility").value };
      if (body.visibility === "group") body.group_ids = [...els.groups.selectedOptions].map((o) => o.value);
      const result = await sendJSON("POST", "/api/v1/documents/url", body);
      message.textContent = `Accepted: ${result.documents[0].title}`;
      url.value = "";
      refresh();
    } catch (error) {
      message.textContent = `Not imported: ${error.message}`;
      message.className = "error-text";
    }
  });
  return form;
}

function listPanel() {
  const q = h("input", { type: "search", id: "doc-search", autocomplete: "off" });
  const status = select([["", "Any"], ["queued", "Queued"], ["processing", "Processing"], ["completed", "Indexed"], ["failed", "Failed"]], "", { id: "doc-status" });
  const tag = h("input", { type: "text", id: "doc-tag", autocomplete: "off" });
  const sort = select([["-created_at", "Newest first"], ["created_at", "Oldest first"], ["title", "Title A–Z"],
    ["-title", "Title Z–A"], ["-updated_at", "Recently changed"]], "-created_at", { id: "doc-sort" });
  const tbody = h("tbody");
  const count = h("p", { class: "muted", "aria-live": "polite" });
  const prev = h("button", { type: "button", text: "Previous page" });
  const next = h("button", { type: "button", text: "Next page" });
  const pageInfo = h("span", { class: "muted" });
  let debounce = null;
  const changed = () => { state.page = 1; refresh(); };
  q.addEventListener("input", () => { window.clearTimeout(debounce); debounce = window.setTimeout(changed, 250); });
  tag.addEventListener("input", () => { window.clearTimeout(debounce); debounce = window.setTimeout(changed, 250); });
  status.addEventListener("change", changed);
  sort.addEventListener("change", changed);
  prev.addEventListener("click", () => { state.page -= 1; refresh(); });
  next.addEventListener("click", () => { state.page += 1; refresh(); });
  els = { ...els, q, status, tag, sort, tbody, count, prev, next, pageInfo };
  const table = h("table", {},
    h("caption", { class: "visually-hidden", text: "Documents you may read" }),
    h("thead", {}, h("tr", {}, ["Title", "Type", "Size", "Owner", "Tags", "Status", "Updated"].map((c) =>
      h("th", { scope: "col", class: c === "Size" ? "num" : null, text: c })))),
    tbody);
  return h("section", { "aria-labelledby": "list-h" },
    h("h2", { id: "list-h", text: "Your library" }),
    h("div", { class: "row" }, field("Search titles", q).field, field("Filter by status", status).field,
      field("Filter by tag", tag).field, field("Sort", sort).field),
    count, h("div", { class: "table-wrap" }, table), h("div", { class: "pager" }, prev, pageInfo, next));
}

async function loadAdminData() {
  try {
    const [users, groups] = await Promise.all([getJSON("/api/v1/users?page_size=200"), getJSON("/api/v1/groups?page_size=200")]);
    for (const u of users.items) state.owners.set(u.id, u.email);
    els.groups.replaceChildren(...groups.items.map((g) => h("option", { value: g.id, text: g.name })));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
  }
}

function ownerName(id) {
  if (!id) return "—";
  if (id === state.user.id) return "you";
  return state.owners.get(id) || "another user";
}

function docRow(d) {
  const status = h("span", { class: `status status-${d.status}`, text: statusText(d) });
  const statusCell = h("td", {}, status, d.status === "failed" && d.error ? h("div", { class: "error-text", text: d.error }) : null);
  return h("tr", {},
    h("td", {}, h("a", { href: `/documents/${encodeURIComponent(d.id)}`, text: d.title })),
    h("td", { text: typeLabel(d.content_type) }),
    h("td", { class: "num", text: formatBytes(d.size_bytes) }),
    h("td", { text: ownerName(d.owner_id) }),
    h("td", {}, d.tags.map((t) => h("span", { class: "tag", text: t }))),
    statusCell,
    h("td", { text: formatDate(d.updated_at) }));
}

async function refresh() {
  window.clearTimeout(state.timer);
  const params = new URLSearchParams({ page: String(state.page), page_size: String(PAGE_SIZE), sort: els.sort.value });
  if (els.q.value.trim()) params.set("q", els.q.value.trim());
  if (els.status.value) params.set("status", els.status.value);
  if (els.tag.value.trim()) params.set("tag", els.tag.value.trim());
  let data;
  try {
    data = await getJSON(`/api/v1/documents?${params}`);
  } catch (error) {
    els.count.textContent = `The list could not be loaded: ${error.message}`;
    state.timer = window.setTimeout(refresh, POLL_MS * 3);
    return;
  }
  els.tbody.replaceChildren(...data.items.map(docRow));
  if (!data.items.length) els.tbody.append(h("tr", {}, h("td", { colspan: 7, class: "muted", text: "No documents match." })));
  els.count.textContent = `${data.total} document${data.total === 1 ? "" : "s"}`;
  const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
  els.pageInfo.textContent = `Page ${state.page} of ${pages}`;
  els.prev.disabled = state.page <= 1;
  els.next.disabled = state.page >= pages;
  // Live while anything is still on its way to the index.
  if (data.items.some((d) => d.status === "queued" || d.status === "processing")) {
    state.timer = window.setTimeout(refresh, POLL_MS);
  } else if (state.wasBusy) {
    announce("All documents are processed.");
  }
  state.wasBusy = data.items.some((d) => d.status === "queued" || d.status === "processing");
}
