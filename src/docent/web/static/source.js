// The source panel beside an answer: the cited passage, highlighted, with a link to the original file.

import { getJSON } from "./api.js";
import { h } from "./dom.js";
import { highlighted } from "./markdown.js";

const MAX_PAGES = 40;
const chunkCache = new Map();

async function findChunk(documentId, chunkId) {
  const key = `${documentId}:${chunkId}`;
  if (chunkCache.has(key)) return chunkCache.get(key);
  for (let page = 1; page <= MAX_PAGES; page += 1) {
    const data = await getJSON(`/api/v1/documents/${encodeURIComponent(documentId)}/chunks?page=${page}&page_size=500`);
    for (const chunk of data.items) chunkCache.set(`${documentId}:${chunk.id}`, chunk);
    if (chunkCache.has(key)) return chunkCache.get(key);
    if (page * data.page_size >= data.total) break;
  }
  return null;
}

export function citationLabel(c) {
  const where = c.page ? `, page ${c.page}` : "";
  return `[${c.number}] ${c.title}${where}`;
}

export function fileLink(c) {
  const base = `/api/v1/documents/${encodeURIComponent(c.document_id)}/file`;
  return c.page ? `${base}?inline=true#page=${c.page}` : base;
}

/** Show citation `c` in `panel`; `onClose` runs when the panel is closed. */
export async function showSource(panel, c, onClose) {
  const close = h("button", { type: "button", class: "close", text: "Close source" });
  close.addEventListener("click", onClose);
  const heading = h("h2", { id: "source-title", tabindex: "-1", text: `[${c.number}] ${c.title}` });
  const facts = h("dl", { class: "facts" },
    h("dt", { text: "Version" }), h("dd", { text: String(c.version) }),
    h("dt", { text: "Page" }), h("dd", { text: c.page ? String(c.page) : "—" }),
    h("dt", { text: "Section" }), h("dd", { text: (c.section || []).join(" › ") || "—" }));
  const passage = h("div", { class: "passage", "aria-busy": "true", text: "Loading the passage…" });
  const link = h("a", { href: fileLink(c), target: "_blank", rel: "noopener",
    text: c.page ? `Open the original at page ${c.page}` : "Download the original" });
  panel.replaceChildren(close, heading, facts, h("h3", { text: "Passage" }), passage, h("p", {}, link));
  panel.hidden = false;
  heading.focus();
  try {
    const chunk = await findChunk(c.document_id, c.chunk_id);
    passage.removeAttribute("aria-busy");
    if (!chunk) {
      passage.replaceChildren(h("span", { class: "muted", text: "This passage is no longer in the index (the document changed). Its quote:" }),
        h("br"), h("mark", { text: c.snippet }));
      return;
    }
    passage.replaceChildren(highlighted(chunk.text, c.snippet).fragment);
    const mark = passage.querySelector("mark");
    if (mark) mark.scrollIntoView({ block: "nearest" });
  } catch (error) {
    passage.removeAttribute("aria-busy");
    passage.replaceChildren(h("span", { class: "error-text", text: `The passage could not be loaded: ${error.message}` }));
  }
}
