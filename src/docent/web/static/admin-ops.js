// Administration, operations: usage (an SVG chart drawn with DOM APIs), audit log, feedback, index health.

import { getJSON, request } from "./api.js";
import { field, formatDate, h, svg } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { citationLabel } from "./source.js";

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function table(columns, rows) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map(([label, num]) => h("th", { scope: "col", class: num ? "num" : null, text: label })))),
    h("tbody", {}, rows)));
}

/** Bars of `values` ({key, value}) as an SVG built node by node; the numbers are in the table beside. */
export function barChart(values, label) {
  const width = 720;
  const height = 220;
  const pad = { left: 48, right: 12, top: 12, bottom: 40 };
  const max = Math.max(1, ...values.map((v) => v.value));
  const step = (width - pad.left - pad.right) / Math.max(1, values.length);
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  chart.append(svg("title", { text: label }));
  const base = height - pad.bottom;
  chart.append(svg("line", { class: "axis", x1: pad.left, y1: base, x2: width - pad.right, y2: base }));
  for (const tick of [0, 0.5, 1]) {
    const y = base - tick * (base - pad.top);
    chart.append(svg("text", { x: pad.left - 6, y: y + 4, "text-anchor": "end", text: String(Number((max * tick).toFixed(max < 10 ? 1 : 0))) }));
  }
  values.forEach((v, i) => {
    const barHeight = (v.value / max) * (base - pad.top);
    const x = pad.left + i * step + step * 0.15;
    const bar = svg("rect", { class: "bar", x, y: base - barHeight, width: Math.max(1, step * 0.7), height: barHeight });
    bar.append(svg("title", { text: `${v.key}: ${v.value}` }));
    chart.append(bar);
    if (values.length <= 16 || i % Math.ceil(values.length / 12) === 0) {
      chart.append(svg("text", { x: x + step * 0.35, y: base + 16, "text-anchor": "middle", text: v.key.slice(5) }));
    }
  });
  return chart;
}

export async function usageSection(body) {
  const today = new Date();
  const from = h("input", { type: "date", id: "usage-from", value: isoDay(new Date(today.getTime() - 29 * 86400000)) });
  const to = h("input", { type: "date", id: "usage-to", value: isoDay(today) });
  const measure = h("select", { id: "usage-measure" }, h("option", { value: "answers", text: "Answers" }),
    h("option", { value: "total_tokens", text: "Tokens" }));
  const out = h("div", { class: "stack" });
  const form = h("form", { class: "row" }, field("From", from).field, field("To", to).field, field("Chart", measure).field,
    h("button", { type: "submit", text: "Show" }));
  async function load() {
    const data = await getJSON(`/api/v1/admin/usage?from=${from.value}&to=${to.value}`);
    const key = measure.value;
    const byDay = new Map(data.by_day.map((d) => [d.key, d[key]]));
    const days = [];
    for (let d = new Date(`${from.value}T00:00:00Z`); isoDay(d) <= to.value && days.length < 366; d = new Date(d.getTime() + 86400000)) {
      days.push({ key: isoDay(d), value: byDay.get(isoDay(d)) || 0 });
    }
    const sums = (rows) => rows.map((r) => h("tr", {}, h("td", { text: r.key }), h("td", { class: "num", text: String(r.answers) }),
      h("td", { class: "num", text: String(r.total_tokens) }), h("td", { class: "num", text: r.cost_usd ?? "unknown" })));
    const cols = [["", false], ["Answers", true], ["Tokens", true], ["Cost (USD)", true]];
    const t = data.total;
    out.replaceChildren(
      h("p", { text: `${t.answers} answers, ${t.total_tokens} tokens, cost ${t.cost_usd ?? "unknown"} USD${t.unpriced_answers ? ` (${t.unpriced_answers} answers without a price)` : ""}.` }),
      barChart(days, `${measure.selectedOptions[0].textContent} per day, ${from.value} to ${to.value}`),
      h("h2", { text: "By user" }), table([["User", false], ...cols.slice(1)], sums(data.by_user)),
      h("h2", { text: "By model" }), table([["Model", false], ...cols.slice(1)], sums(data.by_model)),
      h("h2", { text: "By day" }), table([["Day", false], ...cols.slice(1)], sums(data.by_day)));
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  measure.addEventListener("change", load);
  body.replaceChildren(form, out);
  await load();
}

export async function auditSection(body) {
  const action = h("input", { type: "text", id: "audit-action", placeholder: "e.g. auth.login", autocomplete: "off" });
  const state = { page: 1 };
  const out = h("div");
  const prev = h("button", { type: "button", text: "Newer" });
  const next = h("button", { type: "button", text: "Older" });
  const info = h("span", { class: "muted" });
  const form = h("form", { class: "row" }, field("Action", action, "Exact action name; empty for all").field, h("button", { type: "submit", text: "Filter" }));
  async function load() {
    const params = new URLSearchParams({ page: String(state.page), page_size: "50" });
    if (action.value.trim()) params.set("action", action.value.trim());
    const data = await getJSON(`/api/v1/admin/audit?${params}`);
    out.replaceChildren(table([["When", false], ["Action", false], ["Actor", false], ["Target", false], ["Address", false], ["Details", false]],
      data.items.map((e) => h("tr", {}, h("td", { text: formatDate(e.created_at) }), h("td", {}, h("code", { text: e.action })),
        h("td", { text: e.actor_id || "—" }), h("td", { text: e.target_type ? `${e.target_type} ${e.target_id}` : "—" }),
        h("td", { text: e.ip || "—" }), h("td", { text: Object.keys(e.details).length ? JSON.stringify(e.details) : "" })))));
    const pages = Math.max(1, Math.ceil(data.total / 50));
    info.textContent = `Page ${state.page} of ${pages} (${data.total} events)`;
    prev.disabled = state.page <= 1;
    next.disabled = state.page >= pages;
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); state.page = 1; load(); });
  prev.addEventListener("click", () => { state.page -= 1; load(); });
  next.addEventListener("click", () => { state.page += 1; load(); });
  body.replaceChildren(form, out, h("div", { class: "pager" }, prev, info, next));
  await load();
}

export async function feedbackSection(body) {
  const rating = h("select", { id: "feedback-rating" }, h("option", { value: "down", text: "Rated down" }),
    h("option", { value: "up", text: "Rated up" }), h("option", { value: "", text: "All" }));
  const list = h("div", { class: "stack" });
  async function load() {
    const data = await getJSON(`/api/v1/admin/feedback?page_size=50${rating.value ? `&rating=${rating.value}` : ""}`);
    list.replaceChildren(...data.items.map((f) => h("article", { class: "card feedback-item" },
      h("p", { class: "meta", text: `${f.rating === "down" ? "Rated down" : "Rated up"} by ${f.rated_by} · ${formatDate(f.rated_at)} · ${f.model || ""}` }),
      h("h3", { text: f.question || "(question not found)" }),
      h("div", { class: "answer-body" }, renderMarkdown(f.answer)),
      f.citations.length ? h("ul", { class: "sources", "aria-label": "Citations" },
        f.citations.map((c) => h("li", {}, h("span", { class: "tag", text: citationLabel(c) })))) : h("p", { class: "muted", text: "No citations." }),
      h("p", {}, h("strong", { text: "Comment: " }), f.comment || h("span", { class: "muted", text: "none" })))));
    if (!data.items.length) list.append(h("p", { class: "muted", text: "No feedback of this kind yet." }));
  }
  rating.addEventListener("change", load);
  body.replaceChildren(h("div", { class: "row" }, field("Show", rating).field), list);
  await load();
}

export async function indexSection(body) {
  const result = h("div", { role: "status" });
  const check = h("button", { type: "button", class: "primary", text: "Run check" });
  const rebuild = h("button", { type: "button", text: "Rebuild index" });
  async function run(path, button, verb) {
    check.disabled = true;
    rebuild.disabled = true;
    result.replaceChildren(h("p", { text: `${verb}…` }));
    try {
      const report = await (await request("POST", path)).json();
      const problems = Object.entries(report.problems).filter(([, n]) => n);
      result.replaceChildren(h("div", { class: "card" },
        h("p", {}, h("strong", { class: report.ok ? "ok-text" : "error-text", text: report.ok ? "The index is consistent." : "The index has problems." })),
        h("p", { text: `${report.chunks} chunks · embedding model ${report.embedding_model || "none yet"}` }),
        problems.length ? h("ul", {}, problems.map(([k, n]) => h("li", { text: `${k}: ${n}` }))) : null));
    } catch (error) {
      result.replaceChildren(h("p", { class: "error-text", text: error.message }));
    } finally {
      check.disabled = false;
      rebuild.disabled = false;
      button.focus();
    }
  }
  check.addEventListener("click", () => run("/api/v1/admin/index/check", check, "Checking"));
  rebuild.addEventListener("click", () => run("/api/v1/admin/index/rebuild", rebuild, "Rebuilding"));
  body.replaceChildren(
    h("p", { text: "The check compares chunks, vectors, keyword rows and stored files. A rebuild re-derives them; answers keep flowing meanwhile." }),
    h("div", { class: "row" }, check, rebuild), result);
}
