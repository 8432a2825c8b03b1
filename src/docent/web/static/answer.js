// One answer in the conversation: its text (safe markdown), citation chips, and what can be done with it.

import { sendJSON } from "./api.js";
import { announce, copyText, h, uid } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { citationLabel } from "./source.js";

const ABSTAINED_NOTICE = "Not covered by your documents";

export function answerView(openCitation) {
  const notice = h("p", { class: "notice", hidden: true });
  const steps = h("ol", { class: "steps muted", "aria-label": "Searches made", hidden: true });
  const body = h("div", { class: "answer-body caret" });
  const sources = h("ul", { class: "sources", "aria-label": "Sources", hidden: true });
  const actions = h("div", { class: "actions", hidden: true });
  const meta = h("p", { class: "meta", hidden: true });
  const element = h("li", { class: "msg assistant" },
    h("div", { class: "bubble" }, h("p", { class: "who", text: "Docent" }), notice, steps, body, sources, actions, meta));
  const view = { element, messageId: null, text: "", citations: [] };
  let scheduled = false;

  function citationButton(n, inline) {
    const c = view.citations.find((x) => x.number === n);
    if (!c) return null;
    const label = citationLabel(c);
    const button = h("button", { type: "button", class: inline ? "cite" : "chip", "aria-label": label,
      "aria-expanded": "false", "aria-controls": "source-panel", title: label,
      text: inline ? `[${n}]` : label });
    button.addEventListener("click", () => openCitation(c, button));
    return button;
  }

  function draw() {
    scheduled = false;
    body.replaceChildren(renderMarkdown(view.text, { citation: (n) => citationButton(n, true) }));
  }

  view.addText = (text) => {
    view.text += text;
    if (!scheduled) {
      scheduled = true;
      window.requestAnimationFrame(draw);
    }
  };

  // Agent mode: each search the model made, and the titles it found, before the answer's words.
  view.addStep = ({ query, hits, repeated }) => {
    const titles = (hits || []).map((hit) => hit.title).join("; ");
    const found = repeated ? "searched already" : titles || "nothing found";
    steps.append(h("li", {}, "Searched ", h("q", { text: query }), `: ${found}`));
    steps.hidden = false;
  };

  view.setCitations = (citations) => {
    view.citations = citations || [];
    sources.replaceChildren(...view.citations.map((c) => h("li", {}, citationButton(c.number, false))));
    sources.hidden = !view.citations.length;
    draw();
  };

  function showNotice(text, kind) {
    notice.textContent = text;
    notice.hidden = false;
    element.classList.add(kind);
  }

  view.finish = ({ text, citations, messageId, abstained, provider, model, cached, when, notice: told }) => {
    if (text !== undefined) view.text = text;
    if (messageId) view.messageId = messageId;
    if (citations !== undefined) view.setCitations(citations);
    body.classList.remove("caret");
    draw();
    if (provider === "interrupted") showNotice("Stopped before the end", "stopped");
    else if (provider === "failed") showNotice("The answer failed part-way", "failed");
    else if (abstained ?? !view.citations.length) showNotice(ABSTAINED_NOTICE, "abstained");
    else if (told) showNotice(told, "told");
    const details = [model && model !== "none" ? model : null, cached ? "from the answer cache" : null, when]
      .filter(Boolean).join(" · ");
    meta.textContent = details;
    meta.hidden = !details;
    showActions();
  };

  view.stop = (message) => {
    if (!body.classList.contains("caret")) return;
    body.classList.remove("caret");
    draw();
    showNotice(message, "stopped");
    showActions();
  };

  view.fail = (message) => {
    body.classList.remove("caret");
    draw();
    showNotice(message, "failed");
    notice.setAttribute("role", "alert");
  };

  function showActions() {
    if (!actions.hidden || !view.messageId) return;
    actions.replaceChildren(...feedbackControls(view));
    actions.hidden = false;
  }

  return view;
}

function feedbackControls(view) {
  const status = h("span", { class: "muted", "aria-live": "polite" });
  const copy = h("button", { type: "button", text: "Copy" });
  copy.addEventListener("click", async () => {
    status.textContent = (await copyText(view.text)) ? "Copied." : "Could not copy.";
  });
  const up = h("button", { type: "button", "aria-pressed": "false", text: "Good answer" });
  const down = h("button", { type: "button", "aria-pressed": "false", text: "Bad answer" });
  const comment = h("textarea", { id: uid("comment"), rows: 2, maxlength: 2000 });
  const send = h("button", { type: "submit", text: "Send feedback" });
  const form = h("form", { class: "feedback-form", hidden: true },
    h("label", { for: comment.id, text: "Comment (optional)" }), comment, h("div", {}, send));
  let rating = null;

  async function rate(value, withComment) {
    rating = value;
    up.setAttribute("aria-pressed", String(value === "up"));
    down.setAttribute("aria-pressed", String(value === "down"));
    try {
      await sendJSON("POST", `/api/v1/chat/messages/${encodeURIComponent(view.messageId)}/feedback`,
        { rating: value, comment: withComment ? comment.value.trim() || null : null });
      status.textContent = withComment ? "Thank you: feedback sent." : "Rated. Add a comment if you like.";
      announce(status.textContent);
    } catch (error) {
      status.textContent = `Feedback not saved: ${error.message}`;
    }
  }
  up.addEventListener("click", () => { form.hidden = false; rate("up", false); });
  down.addEventListener("click", () => { form.hidden = false; rate("down", false); comment.focus(); });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    rate(rating || "down", true);
  });
  return [copy, up, down, status, form];
}
