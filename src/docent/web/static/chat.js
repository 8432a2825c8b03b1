// The chat page: conversations, the question box, answers streaming in with citations, the source panel.

import { ApiError, getJSON, request } from "./api.js";
import { announce, clear, confirmDialog, field, formatDate, h } from "./dom.js";
import { answerView } from "./answer.js";
import { readEvents } from "./sse.js";
import { showSource } from "./source.js";

const state = {
  sessionId: null,
  streaming: null, // the AbortController of the answer being written
  openChip: null,
};
let els = {};

export async function render(main) {
  const question = h("textarea", { id: "question", name: "question", rows: 3, maxlength: 2000, required: true,
    placeholder: "Ask about your documents…" });
  const ask = h("button", { type: "submit", class: "primary", text: "Ask" });
  const stop = h("button", { type: "button", hidden: true, text: "Stop" });
  const model = h("select", { id: "answerer" }, h("option", { value: "docent", text: "Automatic" }));
  const agent = h("input", { type: "checkbox", id: "agent-mode" });
  const tags = h("input", { type: "text", id: "filter-tags", autocomplete: "off" });
  const docFilter = h("input", { type: "search", id: "filter-docs", autocomplete: "off" });
  const docChoices = h("ul", { class: "doc-choices", "aria-label": "Documents to ask" });
  const narrow = h("details", {},
    h("summary", { text: "Narrow to tags or documents" }),
    field("Tags", tags, "Comma-separated; only documents with one of them").field,
    field("Find documents", docFilter).field,
    docChoices);
  const form = h("form", {},
    h("label", { for: "question", text: "Question" }),
    question,
    narrow,
    h("div", { class: "buttons" },
      h("label", { for: "answerer", class: "muted", text: "Answerer" }), model,
      h("label", { class: "muted", title: "A model that can call tools searches several times before it answers" },
        agent, " Search step by step"),
      h("span", { class: "spacer" }), stop, ask));
  const messages = h("ol", { class: "messages", id: "messages", "aria-label": "Conversation" });
  const sessions = h("ul", { id: "session-list" });
  const newChat = h("button", { type: "button", text: "New chat" });
  const panel = h("aside", { class: "source-panel", id: "source-panel", hidden: true, "aria-labelledby": "source-title" });
  const layout = h("div", { class: "chat-layout" },
    h("nav", { class: "sessions", "aria-label": "Conversations" },
      h("h2", { text: "Conversations" }), newChat, sessions),
    h("section", { class: "conversation", "aria-label": "Chat" },
      h("h1", { class: "visually-hidden", text: "Chat" }),
      messages,
      h("div", { class: "composer" }, form)),
    panel);
  main.replaceChildren(layout);
  els = { question, ask, stop, model, agent, tags, docChoices, docFilter, messages, sessions, panel, layout };

  form.addEventListener("submit", (event) => { event.preventDefault(); askQuestion(); });
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      askQuestion();
    }
  });
  stop.addEventListener("click", () => state.streaming && state.streaming.abort());
  newChat.addEventListener("click", () => { openSession(null); question.focus(); });
  docFilter.addEventListener("input", filterDocChoices);
  // The documents to choose from are fetched when first wanted, not with every page load.
  narrow.addEventListener("toggle", () => {
    if (narrow.open && !docChoices.dataset.loaded) {
      docChoices.dataset.loaded = "yes";
      loadDocChoices();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) closeSource();
  });

  const wanted = new URLSearchParams(window.location.search).get("session");
  await Promise.all([loadSessions(), loadModels()]);
  if (wanted) await openSession(wanted);
  else showEmpty();
  question.focus();
}

function showEmpty() {
  els.messages.replaceChildren(h("li", { class: "empty-chat" },
    h("p", { text: "Ask a question about your organisation's documents." }),
    h("p", { text: "Answers cite their sources: select a number to see the passage." })));
}

async function loadModels() {
  try {
    const data = await getJSON("/v1/models");
    for (const m of data.data) {
      if (m.id !== "docent") els.model.append(h("option", { value: m.id, text: m.id }));
    }
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
  }
}

async function loadDocChoices() {
  const data = await getJSON("/api/v1/documents?status=completed&page_size=200&sort=title");
  els.docChoices.replaceChildren(...data.items.map((d) => h("li", { dataset: { title: d.title.toLowerCase() } },
    h("label", {}, h("input", { type: "checkbox", value: d.id }), d.title))));
}

function filterDocChoices() {
  const needle = els.docFilter.value.trim().toLowerCase();
  for (const li of els.docChoices.children) li.hidden = needle && !li.dataset.title.includes(needle);
}

async function loadSessions() {
  const data = await getJSON("/api/v1/chat/sessions?page_size=50");
  clear(els.sessions);
  if (!data.items.length) els.sessions.append(h("li", { class: "muted", text: "No conversations yet." }));
  for (const s of data.items) {
    const open = h("button", { type: "button", class: "open", title: s.title, text: s.title });
    open.addEventListener("click", () => openSession(s.id));
    const del = h("button", { type: "button", class: "delete", "aria-label": `Delete conversation: ${s.title}`, text: "✕" });
    del.addEventListener("click", () => deleteSession(s));
    els.sessions.append(h("li", { "aria-current": s.id === state.sessionId ? "true" : null, dataset: { id: s.id } },
      open, del));
  }
}

function markCurrentSession() {
  for (const li of els.sessions.children) {
    if (li.dataset.id === state.sessionId) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
}

async function openSession(id) {
  if (state.streaming) state.streaming.abort();
  state.sessionId = id;
  closeSource();
  const url = new URL(window.location.href);
  if (id) url.searchParams.set("session", id);
  else url.searchParams.delete("session");
  window.history.replaceState(null, "", url);
  markCurrentSession();
  if (!id) { showEmpty(); return; }
  let data;
  try {
    data = await getJSON(`/api/v1/chat/sessions/${encodeURIComponent(id)}`);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    state.sessionId = null;
    showEmpty();
    return;
  }
  clear(els.messages);
  for (const m of data.messages) {
    if (m.role === "user") els.messages.append(userMessage(m.text));
    else {
      const view = answerView(openCitation);
      view.finish({ text: m.text, citations: m.citations, messageId: m.id, provider: m.provider, model: m.model,
        when: formatDate(m.created_at) });
      els.messages.append(view.element);
    }
  }
  announce(`Opened the conversation “${data.title}”.`);
}

async function deleteSession(s) {
  if (!(await confirmDialog(`Delete the conversation “${s.title}”?`))) return;
  await request("DELETE", `/api/v1/chat/sessions/${encodeURIComponent(s.id)}`);
  if (state.sessionId === s.id) openSession(null);
  await loadSessions();
  announce("Conversation deleted.");
}

function userMessage(text) {
  return h("li", { class: "msg user" }, h("div", { class: "bubble" },
    h("p", { class: "who visually-hidden", text: "You asked" }), text));
}

function filters() {
  const tags = els.tags.value.split(",").map((t) => t.trim()).filter(Boolean);
  const documentIds = [...els.docChoices.querySelectorAll("input:checked")].map((i) => i.value);
  return { tags, document_ids: documentIds };
}

function setStreaming(controller) {
  state.streaming = controller;
  els.stop.hidden = !controller;
  els.ask.disabled = Boolean(controller);
  els.messages.setAttribute("aria-busy", controller ? "true" : "false");
  if (!controller) els.ask.removeAttribute("disabled");
}

async function askQuestion() {
  const text = els.question.value.trim();
  if (!text || state.streaming) return;
  const controller = new AbortController();
  setStreaming(controller);
  const body = { question: text, stream: true, session_id: state.sessionId, filters: filters() };
  if (els.model.value !== "docent") body.model = els.model.value;
  if (els.agent.checked) body.mode = "agent";
  let response;
  try {
    response = await request("POST", "/api/v1/chat", { json: body, signal: controller.signal, accept: "text/event-stream" });
  } catch (error) {
    setStreaming(null);
    if (error.name === "AbortError") return;
    els.messages.append(h("li", { class: "msg error" }, h("p", { class: "error-text", role: "alert", text: error.message })));
    return;
  }
  // The question is on its way: only now is the box emptied (an expired session kept it intact).
  els.question.value = "";
  if (!state.sessionId) clear(els.messages);
  els.messages.append(userMessage(text));
  const view = answerView(openCitation);
  els.messages.append(view.element);
  view.element.scrollIntoView({ block: "nearest" });
  await stream(response, view, controller);
}

async function stream(response, view, controller) {
  let finished = false;
  try {
    for await (const { event, data } of readEvents(response)) {
      if (event === "meta") {
        view.messageId = data.message_id;
        if (!state.sessionId) {
          state.sessionId = data.session_id;
          const url = new URL(window.location.href);
          url.searchParams.set("session", data.session_id);
          window.history.replaceState(null, "", url);
        }
      } else if (event === "step") view.addStep(data);
      else if (event === "token") view.addText(data.text);
      else if (event === "citations") view.setCitations(data.citations);
      else if (event === "done") {
        finished = true;
        view.finish({ abstained: data.abstained, provider: data.provider, model: data.model, cached: data.cached,
          notice: data.notice });
      } else if (event === "error") {
        finished = true;
        view.fail(data.error ? data.error.message : "The answer failed.");
      }
    }
    if (!finished) view.stop("The connection ended before the answer was complete.");
  } catch (error) {
    if (error.name !== "AbortError") throw error;
    view.stop("Stopped. The partial answer is kept.");
  } finally {
    setStreaming(null);
    announce(finished ? "The answer is complete." : "The answer was stopped.");
    // A failed refresh of the list leaves the old one, which the next answer refreshes again.
    loadSessions().catch(() => {});
    els.question.focus();
  }
  if (controller.signal.aborted) view.stop("Stopped. The partial answer is kept.");
}

function openCitation(citation, chip) {
  if (state.openChip) state.openChip.setAttribute("aria-expanded", "false");
  state.openChip = chip;
  chip.setAttribute("aria-expanded", "true");
  els.layout.classList.add("with-source");
  showSource(els.panel, citation, closeSource);
}

function closeSource() {
  if (!els.panel || els.panel.hidden) return;
  els.panel.hidden = true;
  els.layout.classList.remove("with-source");
  if (state.openChip) {
    state.openChip.setAttribute("aria-expanded", "false");
    state.openChip.focus();
    state.openChip = null;
  }
}
