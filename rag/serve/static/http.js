// localrag's page, part 1 of 3: talking to the server (its own origin only), DOM helpers and
// the state the other parts share. Plain scripts loaded in order (http.js, ask.js, views.js);
// no framework, no build step.
"use strict";

const HISTORY_KEY = "localrag.history";
const KEY_KEY = "localrag.apiKey";
const REASONS = {
  "min_score": "no relevant text: the best passage scored below retrieval.min_score",
  "empty index": "the index is empty: ingest documents first",
  "no match": "no passage matches the source or page filter",
  "refusal_threshold": "below threshold: the model prefers not answering over this answer",
  "unsupported": "unsupported: the retrieved passages do not support this answer",
  "no_answer": "no answer: no span of the retrieved passages beats the reader's no-answer score",
  "no majority": "the drafts disagreed: no answer won a majority",
  "low_confidence": "low confidence: the verifier rates this answer below its threshold",
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
