// localrag's page, part 2 of 3: the Ask view. Answers stream in from POST /ask/stream, then
// their sources with the highlighted passage; the session's questions stay in sessionStorage.
"use strict";

// -- ask ---------------------------------------------------------------------------------
function currentSettings() {
  const s = { k: parseInt($("k").value, 10) || null, retrieval: $("retrieval").value || null,
              engine: ($("engine").value && state.options && $("engine").value !== state.options.engine)
                ? $("engine").value : null,  // null: the server's configured engine
              source: $("source").value.trim(), pages: $("pages").value.trim(), adapter: null };
  if (state.options && state.options.adapter_switchable) s.adapter = $("adapter").checked;
  return s;
}

function requestBody(question, s) {
  const body = { question, passages: true };
  if (s.k) body.k = s.k;
  if (s.retrieval) body.retrieval = s.retrieval;
  if (s.engine) body.engine = s.engine;
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
  if (s.engine) parts.push("--engine", s.engine);
  if (s.source) parts.push("--source", shellQuote(s.source));
  if (s.pages) parts.push("--pages", shellQuote(s.pages));
  if (s.adapter === false) parts.push("--adapter", "none");
  return prefix + parts.join(" ");
}

function settingsLine(s) {
  const bits = [`k ${s.k || (state.options ? state.options.k : "default")}`,
                `${s.retrieval || (state.options ? state.options.retrieval : "default")} retrieval`];
  if (s.engine) bits.push(`${s.engine} engine`);
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
  } else if (a.span) {
    const sp = a.span, at = sp.sentence_start, to = sp.sentence_start + (sp.end - sp.start);
    result.append(el("p", { className: "span", textContent:
      `From [${sp.block}]: ${sp.sentence.slice(0, at)}«${sp.sentence.slice(at, to)}»${sp.sentence.slice(to)}` }));
  }
  if (a.confidence !== null && a.confidence !== undefined) result.append(confidenceNode(a.confidence));
  const passages = a.passages || [];
  const list = el("ol", { className: "sources" });
  a.sources.forEach((s, i) => {
    const meta = el("div", { className: "source-meta" }, `[${i + 1}] `, el("strong", { textContent: s.source }));
    const unit = /\.pptx$/i.test(s.source) ? "slide" : /\.epub$/i.test(s.source) ? "chapter"
      : /\.tiff?$/i.test(s.source) ? "frame" : "page";  // as `rag ask` cites them (rag/cli/ask.py)
    if (s.page !== null && s.page !== undefined) meta.append(` · ${unit} ${s.page}`);
    if (s.section) meta.append(` · ${s.section}`);
    if (s.ocr) meta.append(" · OCR (check the original)");
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

function confidenceNode(p) {  // the verifier's probability that the answer is right
  const label = `confidence ${p.toFixed(2)}`;
  return el("p", { className: "confidence" }, el("meter", { min: 0, max: 1, value: p, title: label, ariaLabel: label }),
            ` ${label}`);
}

function timingsNode(a) {
  const t = a.timings;
  const reader = a.engine === "reader";
  const rows = [["engine", a.engine || "n/a"], ["embed question", seconds(t.embed_query)], ["retrieve", seconds(t.retrieve)],
                [reader ? "read" : "generate", seconds(t.generate)], ["check support", seconds(t.check_support)],
                ["total", seconds(t.total)], ["first token after", seconds(t.time_to_first_token)],
                [reader ? "tokens read" : "prompt tokens", String(t.prompt_tokens)], ["tokens generated", String(t.tokens_generated)]];
  if (a.margin !== null && a.margin !== undefined) rows.push([reader ? "no-answer gap" : "margin", a.margin.toFixed(2)]);
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
  const engines = $("engine");
  engines.replaceChildren(...(options.engines || []).map((e) => el("option", { value: e, textContent: e + (e === options.engine ? " (default)" : "") })));
  engines.value = options.engine || "";
  $("k").placeholder = String(options.k);
  $("k").value = String(options.k);
  $("adapter-row").hidden = !options.adapter_switchable;
  $("adapter-name").textContent = options.adapter ? `(${options.adapter})` : "";
}
