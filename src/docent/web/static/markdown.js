// A small, safe markdown subset for answers and passages, built as DOM nodes (never innerHTML):
// paragraphs, lists, bold, italic, inline code, fenced code blocks, http(s) links, and citation
// markers [n], which become buttons. Anything else (HTML, scripts, javascript: links) stays plain text.

import { h } from "./dom.js";

const INLINE = new RegExp(
  [
    "(`+)([^`][\\s\\S]*?)\\1", // 1,2: code
    "\\*\\*(\\S[\\s\\S]*?)\\*\\*", // 3: bold
    "__(\\S[\\s\\S]*?)__", // 4: bold
    "\\*(\\S[^*]*?)\\*", // 5: italic
    "\\b_(\\S[^_]*?)_\\b", // 6: italic
    "\\[([^\\]\\n]{1,500})\\]\\(([^()\\s]{1,2000})\\)", // 7,8: link
    "\\[(\\d{1,3})\\]", // 9: citation
  ].join("|"),
  "g",
);

export function safeUrl(raw) {
  try {
    const url = new URL(raw, window.location.origin);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function inline(text, options, depth = 0) {
  const nodes = [];
  let last = 0;
  INLINE.lastIndex = 0;
  const matches = [...text.matchAll(INLINE)];
  for (const m of matches) {
    if (m.index > last) nodes.push(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] !== undefined) nodes.push(h("code", { text: m[2] }));
    else if (m[3] !== undefined || m[4] !== undefined) {
      nodes.push(h("strong", {}, depth < 3 ? inline(m[3] ?? m[4], options, depth + 1) : m[3] ?? m[4]));
    } else if (m[5] !== undefined || m[6] !== undefined) {
      nodes.push(h("em", {}, depth < 3 ? inline(m[5] ?? m[6], options, depth + 1) : m[5] ?? m[6]));
    } else if (m[7] !== undefined) {
      const href = safeUrl(m[8]);
      nodes.push(href
        ? h("a", { href, rel: "noopener noreferrer nofollow", target: "_blank", text: m[7] })
        : m[0]);
    } else if (m[9] !== undefined) {
      const marker = options.citation ? options.citation(Number(m[9])) : null;
      nodes.push(marker || m[0]);
    }
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

function paragraph(lines, options) {
  const p = h("p");
  lines.forEach((line, i) => {
    if (i > 0) p.append(h("br"));
    p.append(...inline(line, options));
  });
  return p;
}

const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^\s{0,3}\d{1,3}[.)]\s+(.*)$/;
const FENCE = /^\s{0,3}(```|~~~)/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*)$/;

/** Render markdown `text` into a fragment. options.citation(n) may return a node for the marker [n]. */
export function renderMarkdown(text, options = {}) {
  const fragment = document.createDocumentFragment();
  const lines = String(text || "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i += 1; continue; }
    const fence = line.match(FENCE);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i += 1;
      fragment.append(h("pre", {}, h("code", { text: body.join("\n") })));
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      fragment.append(h("p", {}, h("strong", {}, inline(heading[1], options))));
      i += 1;
      continue;
    }
    const pattern = BULLET.test(line) ? BULLET : NUMBERED.test(line) ? NUMBERED : null;
    if (pattern) {
      const list = h(pattern === BULLET ? "ul" : "ol");
      while (i < lines.length && pattern.test(lines[i])) {
        list.append(h("li", {}, inline(lines[i].match(pattern)[1], options)));
        i += 1;
      }
      fragment.append(list);
      continue;
    }
    const block = [];
    while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !BULLET.test(lines[i])
      && !NUMBERED.test(lines[i]) && !HEADING.test(lines[i])) {
      block.push(lines[i]);
      i += 1;
    }
    fragment.append(paragraph(block, options));
  }
  return fragment;
}

/** The passage `text` with the parts quoted by `snippet` marked (whitespace and case aside). */
export function highlighted(text, snippet) {
  const fragments = String(snippet || "")
    .split(/…|\.\.\./)
    .map((part) => part.replace(/[«»]/g, "").trim())
    .filter((part) => part.length >= 3);
  const ranges = [];
  for (const part of fragments) {
    const words = part.split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const match = new RegExp(words.join("\\s+"), "i").exec(text);
    if (match) ranges.push([match.index, match.index + match[0].length]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const [start, end] of ranges) {
    if (start < last) continue;
    fragment.append(text.slice(last, start), h("mark", { text: text.slice(start, end) }));
    last = end;
  }
  fragment.append(text.slice(last));
  return { fragment, found: ranges.length > 0 };
}
