// Building the page with DOM APIs only: text always goes in as text (textContent), never as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) {
      // Only functions become handlers; a string here would be an inline handler, which we never make.
      if (typeof value === "function") el.addEventListener(key.slice(2), value);
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("button", {class: "primary", onclick: f}, "Ask") */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  return append(el, children);
}

export function svg(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  return append(el, children);
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

let ids = 0;
export function uid(prefix = "id") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form field: returns {field, input}. */
export function field(label, input, hint) {
  input.id ||= uid("f");
  const hintEl = hint ? h("span", { class: "hint", id: `${input.id}-hint`, text: hint }) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  return { field: h("div", { class: "field" }, h("label", { for: input.id, text: label }), hintEl, input), input };
}

export function select(options, value, props = {}) {
  const el = h("select", props);
  for (const [optionValue, label] of options) {
    el.append(h("option", { value: optionValue, selected: optionValue === value, text: label }));
  }
  return el;
}

const politeRegion = () => document.getElementById("announcer");

/** Tell screen readers something happened (a polite live region). */
export function announce(message) {
  const region = politeRegion();
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => { region.textContent = message; }, 50);
}

export function formatBytes(n) {
  if (n == null) return "";
  const units = ["B", "kB", "MB", "GB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function typeLabel(contentType) {
  const known = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
    "text/markdown": "Markdown",
    "text/plain": "Text",
    "text/html": "HTML",
  };
  return known[contentType] || contentType || "";
}

export function statusText(doc) {
  if (doc.status === "processing") {
    const { done, total } = doc.progress || {};
    return total ? `processing ${done}/${total} chunks` : "processing";
  }
  if (doc.status === "completed") return "indexed";
  return doc.status;
}

/** A small confirmation dialog; resolves true when confirmed. */
export function confirmDialog(message, confirmLabel = "Delete") {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-labelledby": "confirm-title" });
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    dialog.append(
      h("h2", { id: "confirm-title", text: message }),
      h("div", { class: "row" },
        h("button", { type: "button", class: "danger", onclick: () => done(true), text: confirmLabel }),
        h("button", { type: "button", onclick: () => done(false), text: "Cancel" })),
    );
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard permission (e.g. an insecure origin): the old way, through a selected text area.
    const area = h("textarea", { class: "visually-hidden", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}
