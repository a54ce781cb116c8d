"""The page of `rag serve`, end to end in headless Chromium with the real models: a question
streams in and shows its sources with the answer highlighted, an off-topic one is refused with
its reason, settings and the `rag ask` command, the index view ingests with progress, the
reports view shows a real eval output, keyboard only on a phone-sized screen, and not one
request to another host. They need Debian's chromium (`apt-get install chromium`)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO, free_port, make_eval_report, write_docs

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = os.environ.get("RAG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
QUESTION = "Who invented packet switching?"
OFF_TOPIC = "What is the best recipe for chocolate cake?"

if not Path(CHROMIUM).is_file():
    pytest.skip(f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium, or set "
                "RAG_CHROMIUM to its path)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests skipped: playwright is not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> Iterator[dict[str, Any]]:
    """`rag serve` on a free loopback port over a one-article index (real MiniLM and SmolLM2),
    with a reports folder holding one real eval output; waits until the model is loaded."""
    import httpx

    from rag import Pipeline

    root = tmp_path_factory.mktemp("site")
    docs = root / "docs"
    docs.mkdir()
    shutil.copy(DEMO / "Packet_switching.md", docs)
    index = root / "index"
    Pipeline(index=index, embedder=minilm).ingest(docs, progress=False)
    make_eval_report(root / "reports" / "run-a")
    config = root / "rag.toml"
    # off-topic: refused before answering; the generator streams (the reader is one option away)
    config.write_text("[retrieval]\nmin_score = 0.3\n[answer]\nengine = \"generator\"\n", encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAG_API_KEY"}
    server = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--index", str(index), "--port", str(port),
                               "--config", str(config), "--reports", str(root / "reports"),
                               "--ingest-root", str(docs)],
                              stderr=subprocess.PIPE, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        health: dict[str, Any] = {}
        for _ in range(1200):
            try:
                health = httpx.get(base + "/health").json()
                if health["model_state"] in ("ready", "failed"):
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert health.get("model_state") == "ready", health
        yield {"base": base, "index": index, "docs": docs, "root": root}
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, site: dict[str, Any]) -> Iterator[Any]:
    """A fresh page on the site; every URL it requests is kept in `page.requested`."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.requested = []
    tab.on("request", lambda request: tab.requested.append(request.url))
    tab.goto(site["base"] + "/")
    yield tab
    assert all(url.startswith(site["base"] + "/") or url.startswith(("data:", "blob:")) for url in tab.requested), \
        [u for u in tab.requested if not u.startswith(site["base"])]
    context.close()


RECORD_SNAPSHOTS = """() => {
  window.snaps = [];
  new MutationObserver(() => {
    const entry = document.querySelector('#history > li');
    if (!entry) return;
    window.snaps.push({state: entry.dataset.state, text: entry.querySelector('.answer').textContent,
                       sources: entry.querySelectorAll('.sources > li').length});
  }).observe(document.getElementById('history'), {subtree: true, childList: true, characterData: true,
                                                    attributes: true});
}"""


def ask(page: Any, question: str) -> Any:
    """Type `question` in the focused box, press Enter, wait for the answer; the entry."""
    page.focus("#question")
    page.keyboard.type(question)
    page.keyboard.press("Enter")
    page.wait_for_selector("#history > li:first-child:is([data-state=done], [data-state=error])", timeout=120_000)
    return page.locator("#history > li").first


def test_an_answer_streams_in_then_shows_its_sources_with_the_span_highlighted(
        page: Any, site: dict[str, Any], tmp_path: Path) -> None:
    page.evaluate(RECORD_SNAPSHOTS)
    entry = ask(page, QUESTION)
    assert entry.get_attribute("data-state") == "done", entry.inner_text()
    answer = entry.locator(".answer").inner_text()
    snaps = page.evaluate("window.snaps")
    streamed = [s for s in snaps if s["state"] == "streaming" and s["text"].strip() and s["sources"] == 0]
    assert streamed, snaps  # text was on screen while generating, before the answer and its sources
    assert entry.get_attribute("data-refused") == "false" and answer.strip()
    sources = entry.locator(".sources > li")
    assert sources.count() >= 1 and "Packet_switching.md" in sources.first.inner_text()
    assert "score" in sources.first.inner_text() and "Packet switching" in sources.first.inner_text()  # section
    exact = entry.locator(".passage mark.exact")
    assert exact.count() == 1 and exact.inner_text().strip() == answer.strip()  # extractive: the answer itself
    timings = entry.locator("details.timings")
    assert timings.get_attribute("open") is None and "retrieve" not in timings.inner_text()  # collapsed
    timings.locator("summary").click()
    assert "retrieve" in timings.inner_text() and "tokens generated" in timings.inner_text()
    page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)
    assert (tmp_path / "answer.png").stat().st_size > 10_000


def test_an_off_topic_question_is_refused_with_its_reason(page: Any) -> None:
    entry = ask(page, OFF_TOPIC)
    assert entry.get_attribute("data-refused") == "true"
    assert "no relevant text" in entry.locator(".verdict.refusal").inner_text()


def test_settings_apply_per_question_and_copy_as_a_runnable_rag_ask_command(page: Any, site: dict[str, Any]) -> None:
    from rag.cli import build_parser

    page.click("#settings summary")
    page.fill("#k", "2")
    page.select_option("#retrieval", "lexical")
    page.fill("#source", "Packet*")
    entry = ask(page, QUESTION)
    assert "k 2 · lexical retrieval · source Packet*" in entry.locator(".asked").inner_text()
    assert entry.locator(".sources > li").count() == 2
    entry.locator("button.copy").click()
    command = entry.locator(".command").inner_text()
    words = shlex.split(command)
    assert words[:3] == ["rag", "ask", QUESTION]
    args = build_parser().parse_args(words[1:])  # the command the page wrote is one `rag ask` accepts
    assert (args.k, args.retrieval, args.source, args.index) == (2, "lexical", "Packet*", str(site["index"]))
    assert page.is_visible("#adapter")  # the packaged adapter is loaded unmerged: it can be switched off
    page.uncheck("#adapter")
    base = ask(page, QUESTION)
    assert "adapter off" in base.locator(".asked").inner_text() and base.get_attribute("data-state") == "done"
    base.locator("button.copy").click()
    assert build_parser().parse_args(shlex.split(base.locator(".command").inner_text())[1:]).adapter == "none"
    page.reload()  # the session's questions stay on the page
    assert page.locator("#history > li").count() >= 1 and QUESTION in page.locator("#history").inner_text()


def test_the_reader_engine_picked_in_the_settings_marks_its_span(page: Any) -> None:
    page.click("#settings summary")
    page.select_option("#engine", "reader")
    entry = ask(page, QUESTION)
    assert entry.get_attribute("data-state") == "done", entry.inner_text()
    assert "reader engine" in entry.locator(".asked").inner_text()
    assert entry.get_attribute("data-refused") == "false", entry.inner_text()
    span = entry.locator("p.span").inner_text()
    assert span.startswith("From [") and span.count("«") == 1 and span.count("»") == 1
    timings = entry.locator("details.timings")
    timings.locator("summary").click()
    assert "reader" in timings.inner_text() and "read" in timings.inner_text()


def test_the_index_view_lists_files_and_ingests_a_folder_with_progress(page: Any, site: dict[str, Any]) -> None:
    page.click("#tab-index")
    page.wait_for_selector("#files tbody tr")
    assert "Packet_switching.md" in page.locator("#files").inner_text()
    assert "all-MiniLM-L6-v2" in page.locator("#index-summary").inner_text()
    assert page.input_value("#folder") == str(site["docs"].resolve())  # the index's one root
    assert "docs" in page.locator("#roots").inner_text() and str(site["docs"].resolve()) in page.locator("#roots").inner_text()
    assert str(site["docs"].resolve()) in page.locator("#ingest-roots").inner_text()  # where it may ingest
    write_docs(site["docs"], {"Honeybees.md": "# Honeybees\n\nHoneybees store nectar as honey in wax combs. " * 20})
    page.click("#ingest-button")  # removes nothing: no question asked
    page.wait_for_function("() => document.getElementById('ingest-status').textContent.startsWith('Root docs done')",
                           timeout=120_000)
    assert "1 added" in page.locator("#ingest-status").inner_text()
    assert page.evaluate("document.getElementById('ingest-progress').value") == 1
    page.wait_for_selector("#files td:text('docs/Honeybees.md')")
    assert "docs/Packet_switching.md" in page.locator("#files").inner_text()  # nothing already stored was lost
    (site["docs"] / "Honeybees.md").unlink()
    page.click("#ingest-button")  # this one removes a document: the page says which before it does
    page.wait_for_function("() => document.getElementById('ingest-status').textContent.includes('removes')")
    assert "removes 1 document(s) from the index: docs/Honeybees.md" in page.locator("#ingest-status").inner_text()
    assert "docs/Honeybees.md" in page.locator("#files").inner_text()  # nothing done yet
    page.click("#ingest-button")
    page.wait_for_function("() => document.getElementById('ingest-status').textContent.startsWith('Root docs done')",
                           timeout=120_000)
    assert "1 removed" in page.locator("#ingest-status").inner_text()
    page.wait_for_function("() => !document.getElementById('files').textContent.includes('Honeybees')")


def test_the_reports_view_shows_the_comparison_table_and_plots(page: Any) -> None:
    page.click("#tab-reports")
    page.wait_for_selector("#report-table tbody tr")
    header = page.locator("#report-table thead").inner_text()
    assert "default" in header and "k=1" in header
    assert "answer.f1" in page.locator("#report-table tbody").inner_text()
    page.wait_for_function("() => [...document.querySelectorAll('#report-plots img')].length >= 3 && "
                           "[...document.querySelectorAll('#report-plots img')].every(i => i.complete && i.naturalWidth > 0)")


WIDER_THAN = """(width) => [...document.querySelectorAll('body *')]
  .filter(e => !e.closest('.table-wrap') && e.scrollWidth > width)
  .map(e => `${e.tagName.toLowerCase()}#${e.id} ${e.scrollWidth}px`)"""


def test_keyboard_only_on_a_phone_sized_screen(browser: Any, site: dict[str, Any], tmp_path: Path) -> None:
    """The smallest common phone (320 px) leaves room for other fonts than this machine's."""
    width = 320
    context = browser.new_context(viewport={"width": width, "height": 640}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    phone.goto(site["base"] + "/")
    phone.evaluate("document.activeElement.blur()")
    for _ in range(12):  # from the top of the page, Tab until the question box
        phone.keyboard.press("Tab")
        if phone.evaluate("document.activeElement.id") == "question":
            break
    assert phone.evaluate("document.activeElement.id") == "question"
    phone.keyboard.type(QUESTION)
    phone.keyboard.press("Enter")
    phone.wait_for_selector("#history > li[data-state=done]", timeout=120_000)
    for view, ready in (("ask", "#history > li"), ("index", "#files tbody tr"), ("reports", "#report-table tbody tr")):
        if view != "ask":
            phone.focus(f"#tab-{view}")
            phone.keyboard.press("Enter")
        phone.wait_for_selector(ready)
        scrolled = phone.evaluate("document.documentElement.scrollWidth")
        assert scrolled <= width, (f"the {view} view scrolls sideways on a phone: {scrolled} px, widened by "
                                   f"{phone.evaluate(WIDER_THAN, width)}")
    phone.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    context.close()


def test_loading_and_busy_servers_are_said_so(browser: Any, site: dict[str, Any]) -> None:
    context = browser.new_context()
    tab = context.new_page()
    tab.route("**/health", lambda route: route.fulfill(json={"status": "ok", "model_loaded": False,
                                                             "model_state": "loading", "model_error": "",
                                                             "waiting": 0, "busy": True}))
    tab.route("**/ask/stream", lambda route: route.fulfill(status=503, json={"error": {
        "type": "BusyError", "message": "the model stayed busy for 120 s"}}))
    tab.goto(site["base"] + "/")
    tab.wait_for_selector("#banner:not([hidden])")
    assert "Loading the model" in tab.locator("#banner").inner_text()
    entry = ask(tab, QUESTION)
    assert "The server is busy" in entry.locator(".verdict.error").inner_text()
    context.close()


FOREIGN_PAGE = """<!doctype html><title>another site</title><script>
window.attempts = {};
async function attempt(name, path, options) {
  try { const r = await fetch(TARGET + path, options); window.attempts[name] = r.type === "opaque" ? "opaque" : r.status; }
  catch (e) { window.attempts[name] = "blocked"; }
}
</script>"""


def test_another_sites_page_cannot_post_to_the_server_and_the_pages_own_can(browser: Any, site: dict[str, Any]) -> None:
    """A page on another origin (here another loopback port) tries what a rebinding or CSRF page
    would: a JSON post (the browser's preflight is refused) and a "simple" text/plain post (sent
    without asking; the server answers 403 to its foreign Origin). The page's own post is served."""
    import http.server
    import threading

    target = site["base"]

    class Foreign(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = FOREIGN_PAGE.replace("TARGET", repr(target)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    foreign = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Foreign)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    context = browser.new_context()
    tab = context.new_page()
    statuses: dict[str, int] = {}
    tab.on("response", lambda r: statuses.update({r.request.method + " " + r.url: r.status}))
    try:
        tab.goto(f"http://127.0.0.1:{foreign.server_address[1]}/")
        body = '{"folder": "/etc"}'
        tab.evaluate(f"""attempt("json", "/ingest/jobs", {{method: "POST", body: '{body}',
                         headers: {{"Content-Type": "application/json"}}}})""")
        tab.evaluate(f"""attempt("simple", "/ask", {{method: "POST", mode: "no-cors", body: '{body}',
                         headers: {{"Content-Type": "text/plain"}}}})""")
        attempts = tab.evaluate("window.attempts")
        assert attempts == {"json": "blocked", "simple": "opaque"}, attempts
        assert statuses.get(f"POST {target}/ask") == 403, statuses  # the simple post: refused by its Origin
        assert f"POST {target}/ingest/jobs" not in statuses  # the JSON post: never sent after the preflight
        own = context.new_page()
        own.goto(target + "/")
        served = own.evaluate("""async () => (await fetch("/ask", {method: "POST",
            headers: {"Content-Type": "application/json"}, body: JSON.stringify({question: "What is a packet?",
            engine: "reader"})})).status""")
        assert served == 200
    finally:
        context.close()
        foreign.shutdown()
