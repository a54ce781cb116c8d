// localrag's page, part 3 of 3: switching views, the server's state (loading, busy), the Index
// view with ingest progress, the Reports view, and the start. Every control works by keyboard.
"use strict";

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

// -- server state: model loading, busy ---------------------------------------------------
async function watchHealth() {
  try {
    const h = await (await fetch("/health")).json();
    if (h.model_state === "loading" || h.model_state === "idle" && !h.model_loaded && h.busy) {
      banner("Loading the model… questions asked now wait until it is ready.");
    } else if (h.model_state === "failed") {
      banner("The model failed to load (the server's log says why). The next question tries again.", "error");
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
  if (!$("folder").value && info.roots && info.roots.length === 1 && info.roots[0].path) $("folder").value = info.roots[0].path;
  const allowed = info.ingest || { enabled: true, roots: [] };
  $("folder").disabled = $("ingest-button").disabled = !allowed.enabled;
  $("ingest-roots").textContent = (allowed.enabled ? "Folders under " + allowed.roots.join(", ") + " can be ingested."
                                                   : "Ingest from this page is off: " + allowed.how + ".") +
    " Ingest jobs live in the server's memory: a restart forgets them, not what they wrote.";
  if (info.interrupted) {
    $("ingest-status").className = "warning";
    $("ingest-status").textContent = "Warning: " + info.interrupted.message + " (here, or: " + info.interrupted.command + ").";
  }
  const roots = $("roots").querySelector("tbody");
  roots.replaceChildren(...(info.roots || []).map((r) => {
    const forget = el("button", { type: "button", className: "small", textContent: "Forget", disabled: !allowed.enabled });
    forget.addEventListener("click", () => forgetRoot(r, forget));
    return el("tr", {}, el("td", { textContent: r.label + (r.interrupted ? " (interrupted)" : "") }),
      el("td", { textContent: r.path || "" }), el("td", { textContent: String(r.documents) }),
      el("td", { textContent: String(r.chunks) }), el("td", {}, forget));
  }));
  const body = $("files").querySelector("tbody");
  body.replaceChildren(...info.sources.map((f) => el("tr", {},
    el("td", { textContent: f.source }), el("td", { textContent: String(f.chunks) }),
    el("td", { textContent: f.ingested_at ? new Date(f.ingested_at).toLocaleString() : "" }), el("td", { textContent: f.status }))));
}

async function forgetRoot(root, button) {
  // Two presses: the first says what goes.
  if (button.dataset.armed !== "yes") {
    button.dataset.armed = "yes";
    button.textContent = `Forget ${root.documents} documents?`;
    return;
  }
  const status = $("ingest-status");
  try {
    const done = await apiJson("/forget", { json: { target: root.label } });
    status.className = "";
    status.textContent = `Forgot root ${root.label}: ${done.chunks_deleted} chunks deleted.`;
    await loadIndex();
  } catch (e) { status.textContent = "Forget failed: " + e.message; }
}

async function ingest(event) {
  event.preventDefault();
  const folder = $("folder").value.trim();
  const replace = $("replace").checked;
  const bar = $("ingest-progress"), status = $("ingest-status"), button = $("ingest-button");
  status.className = "";
  const asked = folder + "\n" + replace;
  if (state.confirmIngest !== asked) {
    // Ask the server what this ingest removes; say so before doing it.
    let plan;
    try { plan = await apiJson("/ingest/plan", { json: { folder, replace } }); } catch (e) { status.textContent = "Ingest failed: " + e.message; return; }
    if (plan.removes.length) {
      state.confirmIngest = asked;
      status.className = "warning";
      const shown = plan.removes.slice(0, 5).join(", ") + (plan.removes.length > 5 ? ", …" : "");
      status.textContent = `Ingesting ${folder} (root ${plan.root}${plan.new_root ? ", new" : ""}) removes ${plan.removes.length} ` +
        `document(s) from the index: ${shown}` + (plan.removes_roots.length ? ` (roots ${plan.removes_roots.join(", ")} go)` : "") +
        ". Press Ingest again to go ahead.";
      return;
    }
  }
  state.confirmIngest = null;
  button.disabled = true;
  bar.hidden = false;
  bar.removeAttribute("value");  // indeterminate until the first count
  status.textContent = `Ingesting ${folder}… (waits for the model if it is answering)`;
  try {
    let job = await apiJson("/ingest/jobs", { json: { folder, replace } });
    while (job.state === "queued" || job.state === "running") {
      await new Promise((r) => setTimeout(r, 400));
      job = await apiJson("/ingest/jobs/" + job.id);
      if (job.total) { bar.max = job.total; bar.value = job.done; status.textContent = `Embedding ${job.done} / ${job.total} chunks…`; }
    }
    if (job.state === "failed") throw new Error(job.error.message);
    const r = job.report;
    status.textContent = `Root ${r.root}${r.new_root ? " (new)" : ""} done in ${r.seconds} s: ${r.files_added} added, ${r.files_updated} updated, ${r.files_unchanged} unchanged, ` +
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
