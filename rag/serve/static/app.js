// localrag's page: asks `rag serve` over its own origin only (POST /ask/stream, /info,
// /ingest/jobs, /reports), renders answers as they stream, and keeps the session's questions in
// sessionStorage. No framework, no build step; every element is reachable by keyboard.
"use strict";

const HISTORY_KEY = "localrag.history";
const KEY_KEY = "localrag.apiKey";
const REASONS = {
  "min_score": "no relevant text: the best passage scored below retrieval.min_score",
  "empty index": "the index is empty: ingest documents first",
  "no match": "no passage matches the source or page filter",
  "refusal_threshold": "below threshold: the model prefers not answering over this answer",
  "unsupported": "unsupported: the retrieved passages do not support this answer",
  "no majority": "the drafts disagreed: no answer won a majority",
  "": "the model found no answer in the retrieved passages",
};
const $ = (id) => document.getElementById(id);
const state = { info: null, options: null, history: [], reportsLoaded: false };

// -- talking to the server -----------------------------------------------------------------
class HttpError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.type = body && body.error && body.error.type;
  }
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = localStorage.getItem(KEY_KEY);
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.json ? { "Content-Type": "application/json" } : {});
  if (opts.json) { opts.body = JSON.stringify(opts.json); opts.method = opts.method || "POST"; }
  const response = await fetch(path, opts);
  if (response.status === 401) askForKey();
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    throw new HttpError(response.status, body);
  }
  return response;
}

async function apiJson(path, options) { return (await api(path, options)).json(); }

// Server-sent events from a POST: yields [event, data] pairs as they arrive.
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      yield [event, data ? JSON.parse(data) : null];
    }
  }
}

function askForKey() {
  $("key-form").hidden = false;
  $("api-key").focus();
}

function banner(text, kind) {
  const box = $("banner");
  box.replaceChildren();
  box.hidden = !text;
  if (text) box.append(el("p", { className: kind || "" }, text));
}

// -- small DOM helpers ---------------------------------------------------------------------
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function seconds(s) { return s === null || s === undefined ? "n/a" : (s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`); }

function shellQuote(text) { return /^[\w@%+=:,./-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\\''") + "'"; }

// -- views -------------------------------------------------------------------------------
function show(view) {
  for (const name of ["ask", "index", "reports"]) {
    const tab = $("tab-" + name);
    $("view-" + name).hidden = name !== view;
    if (name === view) tab.setAttribute("aria-current", "page"); else tab.removeAttribute("aria-current");
  }
  if (view === "index") loadIndex();
  if (view === "reports") loadReports();
  if (location.hash !== "#" + view) history.replaceState(null, "", "#" + view);
}

// -- ask ---------------------------------------------------------------------------------
function currentSettings() {
  const s = { k: parseInt($("k").value, 10) || null, retrieval: $("retrieval").value || null,
              source: $("source").value.trim(), pages: $("pages").value.trim(), adapter: null };
  if (state.options && state.options.adapter_switchable) s.adapter = $("adapter").checked;
  return s;
}

function requestBody(question, s) {
  const body = { question, passages: true };
  if (s.k) body.k = s.k;
  if (s.retrieval) body.retrieval = s.retrieval;
  if (s.adapter === false) body.adapter = false;
  const filter = {};
  if (s.source) filter.source = s.source;
  if (s.pages) filter.pages = s.pages;
  if (Object.keys(filter).length) body.filter = filter;
  return body;
}

function askCommand(question, s) {
  const parts = ["rag", "ask", shellQuote(question)];
  const index = state.info && state.info.index;
  let prefix = "";
  if (index && /^https?:/.test(index)) prefix = "RAG_CHROMA_URL=" + shellQuote(index) + " ";
  else if (index) parts.push("--index", shellQuote(index));
  if (s.k) parts.push("--k", String(s.k));
  if (s.retrieval) parts.push("--retrieval", s.retrieval);
  if (s.source) parts.push("--source", shellQuote(s.source));
  if (s.pages) parts.push("--pages", shellQuote(s.pages));
  if (s.adapter === false) parts.push("--adapter", "none");
  return prefix + parts.join(" ");
}

function settingsLine(s) {
  const bits = [`k ${s.k || (state.options ? state.options.k : "default")}`,
                `${s.retrieval || (state.options ? state.options.retrieval : "default")} retrieval`];
  if (s.source) bits.push(`source ${s.source}`);
  if (s.pages) bits.push(`pages ${s.pages}`);
  if (s.adapter === false) bits.push("adapter off");
  return bits.join(" · ");
}

function newEntry(item) {
  const li = el("li", { className: "entry" });
  li.dataset.state = "waiting";
  const answer = el("div", { className: "answer" });
  answer.setAttribute("aria-live", "polite");
  const copy = el("button", { type: "button", className: "copy", textContent: "Copy as rag ask command" });
  const command = el("code", { className: "command", hidden: true });
  copy.addEventListener("click", () => copyCommand(item, command));
  li.append(el("h3", { textContent: item.question }), el("p", { className: "asked", textContent: settingsLine(item.settings) }),
            answer, el("div", { className: "result" }), el("div", { className: "actions" }, copy), command);
  $("history").prepend(li);
  $("history-empty").hidden = true;
  return li;
}

async function copyCommand(item, codeEl) {
  const text = askCommand(item.question, item.settings);
  codeEl.textContent = text;
  codeEl.hidden = false;
  try {
    await navigator.clipboard.writeText(text);
    codeEl.title = "copied to the clipboard";
  } catch (e) {
    const range = document.createRange();  // no clipboard access: select it for Ctrl+C
    range.selectNodeContents(codeEl);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }
}

function passageNode(passage) {
  const block = el("blockquote", { className: "passage" });
  const text = passage.text;
  if (passage.start === null || passage.start === undefined) { block.textContent = text; return block; }
  const mark = el("mark", { textContent: text.slice(passage.start, passage.end) });
  mark.title = passage.exact ? "the answer, exactly as in this passage" : "the sentence closest to the answer";
  mark.className = passage.exact ? "exact" : "closest";
  block.append(text.slice(0, passage.start), mark, text.slice(passage.end));
  return block;
}

function renderAnswer(li, item) {
  const result = li.querySelector(".result");
  result.replaceChildren();
  if (item.error) {
    li.dataset.state = "error";
    li.querySelector(".answer").textContent = "";
    result.append(el("p", { className: "verdict error", textContent: item.error }));
    return;
  }
  const a = item.answer;
  li.dataset.state = "done";
  li.dataset.refused = String(a.refused);
  li.querySelector(".answer").textContent = a.answer;
  if (a.refused) {
    const why = REASONS[a.reason] !== undefined ? REASONS[a.reason] : a.reason;
    result.append(el("p", { className: "verdict refusal", textContent: "Refused: " + why }));
    if (a.draft) result.append(el("p", { className: "draft", textContent: "Withdrawn draft: " + a.draft }));
  }
  const passages = a.passages || [];
  const list = el("ol", { className: "sources" });
  a.sources.forEach((s, i) => {
    const meta = el("div", { className: "source-meta" }, `[${i + 1}] `, el("strong", { textContent: s.source }));
    if (s.page !== null && s.page !== undefined) meta.append(` · page ${s.page}`);
    if (s.section) meta.append(` · ${s.section}`);
    meta.append(` · score ${s.score.toFixed(3)}`);
    if (a.cited && a.cited.includes(i + 1)) meta.append(" · cited");
    list.append(el("li", {}, meta, passageNode(passages[i] || { text: s.snippet })));
  });
  if (a.sources.length) result.append(el("h4", { className: "sr-only", textContent: "Sources" }), list);
  result.append(timingsNode(a));
  requestAnimationFrame(() => {  // scroll each passage to its highlight, not the page
    for (const mark of list.querySelectorAll("mark")) mark.parentElement.scrollTop = Math.max(0, mark.offsetTop - 24);
  });
}

function timingsNode(a) {
  const t = a.timings;
  const rows = [["embed question", seconds(t.embed_query)], ["retrieve", seconds(t.retrieve)],
                ["generate", seconds(t.generate)], ["check support", seconds(t.check_support)],
                ["total", seconds(t.total)], ["first token after", seconds(t.time_to_first_token)],
                ["prompt tokens", String(t.prompt_tokens)], ["tokens generated", String(t.tokens_generated)]];
  if (t.generate > 0 && t.tokens_generated) rows.push(["tokens / s", (t.tokens_generated / t.generate).toFixed(1)]);
  if (a.votes && Object.keys(a.votes).length) rows.push(["votes", Object.entries(a.votes).map(([k, n]) => `${k}: ${n}`).join(", ")]);
  const table = el("table");
  for (const [name, value] of rows) table.append(el("tr", {}, el("th", { scope: "row", textContent: name }), el("td", { textContent: value })));
  return el("details", { className: "timings" }, el("summary", { textContent: `Timings (${seconds(t.total)})` }), table);
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  const item = { question, settings: currentSettings(), answer: null, error: null };
  const li = newEntry(item);
  const button = $("ask-button");
  button.disabled = true;
  $("question").value = "";
  const shown = li.querySelector(".answer");
  shown.textContent = "Waiting for the model…";
  try {
    const response = await api("/ask/stream", { json: requestBody(question, item.settings) });
    let streamed = "";
    for await (const [kind, data] of sseEvents(response)) {
      if (kind === "piece") {
        if (!streamed) li.dataset.state = "streaming";
        streamed += data.text;
        shown.textContent = streamed;
      } else if (kind === "answer") {
        item.answer = data;
      } else if (kind === "error") {
        throw new HttpError(data.status, data);
      }
    }
    if (!item.answer) throw new Error("the answer stream ended early");
  } catch (e) {
    item.error = e.status === 503 ? `The server is busy: ${e.message}` : `Error: ${e.message}`;
  } finally {
    button.disabled = false;
  }
  renderAnswer(li, item);
  state.history.push(item);
  saveHistory();
  $("question").focus();
}

function saveHistory() {
  try { sessionStorage.setItem(HISTORY_KEY, JSON.stringify(state.history.slice(-50))); } catch (e) { /* full */ }
}

function restoreHistory() {
  try { state.history = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]"); } catch (e) { state.history = []; }
  for (const item of state.history) renderAnswer(newEntry(item), item);
}

function applyOptions(options) {
  state.options = options;
  const select = $("retrieval");
  select.replaceChildren(...options.retrieval_modes.map((m) => el("option", { value: m, textContent: m + (m === options.retrieval ? " (default)" : "") })));
  select.value = options.retrieval;
  $("k").placeholder = String(options.k);
  $("k").value = String(options.k);
  $("adapter-row").hidden = !options.adapter_switchable;
  $("adapter-name").textContent = options.adapter ? `(${options.adapter})` : "";
}

// -- server state: model loading, busy ---------------------------------------------------
async function watchHealth() {
  try {
    const h = await (await fetch("/health")).json();
    if (h.model_state === "loading" || h.model_state === "idle" && !h.model_loaded && h.busy) {
      banner("Loading the model… questions asked now wait until it is ready.");
    } else if (h.model_state === "failed") {
      banner("The model failed to load: " + h.model_error + ". The next question tries again.", "error");
      return;
    } else if (h.waiting > 0) {
      banner(`The server is busy: ${h.waiting} request(s) waiting for the model.`);
    } else {
      banner("");
    }
  } catch (e) {
    banner("The server does not answer. Is rag serve still running?", "error");
  }
  setTimeout(watchHealth, state.options ? 3000 : 1000);
}

// -- index -------------------------------------------------------------------------------
async function loadInfo() {
  state.info = await apiJson("/info");
  if (state.info.ask) applyOptions(state.info.ask);
  return state.info;
}

async function loadIndex() {
  let info;
  try { info = await loadInfo(); } catch (e) { $("ingest-status").textContent = "Could not read the index: " + e.message; return; }
  const summary = $("index-summary");
  summary.replaceChildren();
  for (const [name, value] of [["Index", info.index], ["Collection", info.collection], ["Embedding model", info.embedding_model],
                               ["Dimension", info.embedding_dimension], ["Chunker", info.chunker], ["Files", info.files], ["Chunks", info.chunks]]) {
    summary.append(el("dt", { textContent: name }), el("dd", { textContent: value === null || value === undefined ? "n/a" : String(value) }));
  }
  if (!$("folder").value && info.source_root) $("folder").value = info.source_root;
  const body = $("files").querySelector("tbody");
  body.replaceChildren(...info.sources.map((f) => el("tr", {},
    el("td", { textContent: f.source }), el("td", { textContent: String(f.chunks) }),
    el("td", { textContent: f.ingested_at ? new Date(f.ingested_at).toLocaleString() : "" }), el("td", { textContent: f.status }))));
}

async function ingest(event) {
  event.preventDefault();
  const folder = $("folder").value.trim();
  const bar = $("ingest-progress"), status = $("ingest-status"), button = $("ingest-button");
  const root = state.info && state.info.source_root;
  status.className = "";
  if (root && state.info.files > 0 && folder.replace(/\/+$/, "") !== root && state.confirmFolder !== folder) {
    // The index mirrors one folder: another one replaces what it holds. Say so before doing it.
    state.confirmFolder = folder;
    status.className = "warning";
    status.textContent = `The index mirrors ${root} (${state.info.files} files). Ingesting ${folder} instead removes ` +
      "from the index every file that is not in it. Press Ingest again to go ahead.";
    return;
  }
  state.confirmFolder = null;
  button.disabled = true;
  bar.hidden = false;
  bar.removeAttribute("value");  // indeterminate until the first count
  status.textContent = `Ingesting ${folder}… (waits for the model if it is answering)`;
  try {
    let job = await apiJson("/ingest/jobs", { json: { folder } });
    while (job.state === "queued" || job.state === "running") {
      await new Promise((r) => setTimeout(r, 400));
      job = await apiJson("/ingest/jobs/" + job.id);
      if (job.total) { bar.max = job.total; bar.value = job.done; status.textContent = `Embedding ${job.done} / ${job.total} chunks…`; }
    }
    if (job.state === "failed") throw new Error(job.error.message);
    const r = job.report;
    status.textContent = `Done in ${r.seconds} s: ${r.files_added} added, ${r.files_updated} updated, ${r.files_unchanged} unchanged, ` +
      `${r.files_removed} removed, ${r.files_failed.length} failed` +
      (r.files_failed.length ? " (" + r.files_failed.map((f) => `${f.path}: ${f.error}`).join("; ") + ")" : "") + ".";
    bar.max = 1; bar.value = 1;
    await loadIndex();
  } catch (e) {
    status.textContent = "Ingest failed: " + e.message;
    bar.hidden = true;
  } finally {
    button.disabled = false;
  }
}

// -- reports -----------------------------------------------------------------------------
async function loadReports() {
  if (state.reportsLoaded) return;
  const empty = $("reports-empty");
  let found;
  try { found = await apiJson("/reports"); } catch (e) { empty.hidden = false; empty.textContent = "Could not list reports: " + e.message; return; }
  state.reportsLoaded = true;
  if (!found.reports.length) {
    empty.hidden = false;
    empty.textContent = found.root ? `No rag eval output (report.json) under ${found.root}.`
                                   : "This server shows no reports: start it with rag serve --reports DIR (a folder of rag eval outputs).";
    return;
  }
  const select = $("report-select");
  select.replaceChildren(...found.reports.map((name) => el("option", { value: name, textContent: name === "." ? found.root : name })));
  $("report-picker").hidden = false;
  select.addEventListener("change", () => showReport(select.value));
  await showReport(found.reports[0]);
}

async function showReport(name) {
  const summary = await apiJson("/reports/summary?name=" + encodeURIComponent(name));
  const run = summary.run || {};
  $("report-run").textContent = `Data: ${run.data || "?"} · ${run.n_sampled ?? "?"} questions · variants: ${summary.variants.join(", ")}`;
  const table = $("report-table");
  table.replaceChildren(el("caption", { textContent: "Variants side by side" }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", textContent: "metric" }), ...summary.variants.map((v) => el("th", { scope: "col", textContent: v })))),
    el("tbody", {}, ...summary.rows.map(([label, ...values]) => el("tr", {}, el("th", { scope: "row", textContent: label }), ...values.map((v) => el("td", { textContent: v }))))));
  const plots = $("report-plots");
  plots.replaceChildren();
  for (const file of summary.plots) {
    // Fetched with the API key (an <img src> could not send it), shown from a blob: URL.
    const blob = await (await api(`/reports/file?name=${encodeURIComponent(name)}&file=${encodeURIComponent(file)}`)).blob();
    const img = el("img", { src: URL.createObjectURL(blob), alt: `${file.replace(/\.png$/, "")} plot of report ${name}` });
    plots.append(el("figure", {}, img, el("figcaption", { textContent: file })));
  }
}

// -- start -------------------------------------------------------------------------------
function start() {
  for (const name of ["ask", "index", "reports"]) $("tab-" + name).addEventListener("click", () => show(name));
  $("ask-form").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("ask-form").requestSubmit(); }
  });
  $("ingest-form").addEventListener("submit", ingest);
  $("clear-history").addEventListener("click", () => {
    state.history = []; saveHistory(); $("history").replaceChildren(); $("history-empty").hidden = false;
  });
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem(KEY_KEY, $("api-key").value);
    $("key-form").hidden = true;
    loadInfo().catch(() => {});
  });
  restoreHistory();
  loadInfo().catch((e) => banner("Could not read the index: " + e.message, "error"));
  watchHealth();
  const view = location.hash.slice(1);
  show(["ask", "index", "reports"].includes(view) ? view : "ask");
  if (!$("view-ask").hidden) $("question").focus();
}

document.addEventListener("DOMContentLoaded", start);
