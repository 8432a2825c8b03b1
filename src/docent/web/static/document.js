// One document: its facts, versions, a new version, reprocess, delete, download, and its chunks.

import { ApiError, getJSON, request, upload } from "./api.js";
import { announce, confirmDialog, field, formatBytes, formatDate, h, statusText, typeLabel } from "./dom.js";

const CHUNKS_PER_PAGE = 50;
const state = { id: null, user: null, chunkPage: 1, timer: null, flash: "" };
let main;

export async function render(mainEl, user) {
  main = mainEl;
  state.user = user;
  state.id = decodeURIComponent(window.location.pathname.split("/").pop());
  await load();
}

async function load() {
  window.clearTimeout(state.timer);
  let doc;
  try {
    doc = await getJSON(`/api/v1/documents/${encodeURIComponent(state.id)}`);
  } catch (error) {
    // 404, or 422 for an address that is no document id at all: the same answer for the reader.
    if (!(error instanceof ApiError) || ![404, 422].includes(error.status)) throw error;
    main.replaceChildren(h("h1", { text: "Document not found" }),
      h("p", {}, "It does not exist, or you may not read it. ", h("a", { href: "/documents", text: "All documents" })));
    return;
  }
  document.title = `${doc.title} · Docent`;
  const canChange = state.user.role === "admin" || doc.owner_id === state.user.id;
  const chunks = h("section", { "aria-labelledby": "chunks-h" }, h("h2", { id: "chunks-h", text: "Chunks" }));
  main.replaceChildren(
    h("p", {}, h("a", { href: "/documents", text: "← All documents" })),
    h("h1", { text: doc.title }),
    facts(doc),
    actions(doc, canChange),
    versions(doc),
    chunks);
  await loadChunks(chunks, doc);
  if (doc.status === "queued" || doc.status === "processing") state.timer = window.setTimeout(load, 2000);
}

function facts(doc) {
  const pairs = [
    ["Type", typeLabel(doc.content_type)], ["File", doc.filename], ["Size", formatBytes(doc.size_bytes)],
    ["Status", statusText(doc) + (doc.error ? ` — ${doc.error}` : "")], ["Version", String(doc.version)],
    ["Visibility", doc.visibility], ["Tags", doc.tags.join(", ") || "—"], ["Pages", doc.page_count ?? "—"],
    ["Chunks", doc.chunk_count ?? "—"], ["Updated", formatDate(doc.updated_at)],
  ];
  if (doc.source_url) pairs.push(["Source", doc.source_url]);
  return h("dl", { class: "facts card" }, pairs.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })]));
}

function actions(doc, canChange) {
  // What the last action said: kept across the redraws that follow it (the page redraws while processing).
  const status = h("p", { role: "status", text: state.flash });
  const download = h("a", { class: "button", href: `/api/v1/documents/${encodeURIComponent(doc.id)}/file`, download: doc.filename, text: "Download" });
  const row = h("div", { class: "row" }, download);
  if (!canChange) return h("section", { "aria-label": "Actions", class: "stack" }, row);
  const reprocess = h("button", { type: "button", text: "Reprocess" });
  reprocess.addEventListener("click", async () => {
    await request("POST", `/api/v1/documents/${encodeURIComponent(doc.id)}/reprocess`);
    state.flash = "Queued for processing again.";
    load();
  });
  const remove = h("button", { type: "button", class: "danger", text: "Delete" });
  remove.addEventListener("click", async () => {
    if (!(await confirmDialog(`Delete “${doc.title}”?`))) return;
    await request("DELETE", `/api/v1/documents/${encodeURIComponent(doc.id)}`);
    window.location.assign("/documents");
  });
  const file = h("input", { type: "file", id: "new-version" });
  const progress = h("progress", { max: 100, value: 0, hidden: true, "aria-label": "Upload progress" });
  const send = h("button", { type: "submit", text: "Upload new version" });
  const form = h("form", { class: "row" }, field("New version", file).field, send, progress);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files.length) { status.textContent = "Choose a file first."; return; }
    const body = new FormData();
    body.append("files", file.files[0], file.files[0].name);
    progress.hidden = false;
    try {
      await upload("PUT", `/api/v1/documents/${encodeURIComponent(doc.id)}`, body, (share) => { progress.value = share * 100; });
      state.flash = "New version accepted.";
      announce(state.flash);
      load();
    } catch (error) {
      status.textContent = `Refused: ${error.message}`;
      status.className = "error-text";
      progress.hidden = true;
    }
  });
  row.append(reprocess, remove);
  return h("section", { "aria-label": "Actions", class: "stack" }, row, form, status);
}

function versions(doc) {
  const rows = (doc.versions || []).slice().sort((a, b) => b.number - a.number).map((v) => h("tr", {},
    h("td", { class: "num", text: String(v.number) }), h("td", { text: v.filename }),
    h("td", { class: "num", text: formatBytes(v.size_bytes) }),
    h("td", { text: v.status === "completed" ? "indexed" : v.status + (v.error ? ` — ${v.error}` : "") }),
    h("td", { class: "num", text: v.chunk_count ?? "—" }), h("td", { text: formatDate(v.created_at) })));
  return h("section", { "aria-labelledby": "versions-h" }, h("h2", { id: "versions-h", text: "Versions" }),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Version", "File", "Size", "Status", "Chunks", "Uploaded"].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, rows))));
}

async function loadChunks(section, doc) {
  const list = h("div");
  const pager = h("div", { class: "pager" });
  section.append(list, pager);
  const data = await getJSON(`/api/v1/documents/${encodeURIComponent(doc.id)}/chunks?page=${state.chunkPage}&page_size=${CHUNKS_PER_PAGE}`);
  if (!data.items.length) list.append(h("p", { class: "muted", text: "No chunks yet." }));
  for (const c of data.items) {
    const where = [c.page ? `Page ${c.page}` : null, c.section.length ? c.section.join(" › ") : null, `chunk ${c.ordinal + 1}`]
      .filter(Boolean).join(" · ");
    list.append(h("article", { class: "chunk" }, h("p", { class: "where", text: where }), h("p", { class: "text", text: c.text })));
  }
  const pages = Math.ceil(data.total / CHUNKS_PER_PAGE);
  if (pages > 1) {
    const prev = h("button", { type: "button", text: "Previous chunks", disabled: state.chunkPage <= 1 });
    const next = h("button", { type: "button", text: "Next chunks", disabled: state.chunkPage >= pages });
    prev.addEventListener("click", () => { state.chunkPage -= 1; load(); });
    next.addEventListener("click", () => { state.chunkPage += 1; load(); });
    pager.append(prev, h("span", { class: "muted", text: `Page ${state.chunkPage} of ${pages}` }), next);
  }
}
