"""`rag ask`: one question, answered with its sources (and the marked span), streamed.
Registered with the `rag` command by rag.cli."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from typing import Any

from rag.cli.base import command, common_options, pipeline_from, print_json
from rag.config import ANSWER_ENGINES, ANSWER_MODES, DEFAULT_READER, AnswerConfig, RetrievalConfig
from rag.retrieval.filters import parse_filter
from rag.retrieval.registry import retrieval_modes


def _register_ask(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ask", help="ask a question of an index")
    common_options(p)
    p.add_argument("question")
    p.add_argument("--k", type=int, help=f"chunks to retrieve (default {RetrievalConfig.k})")
    p.add_argument("--engine", choices=ANSWER_ENGINES, help="who answers: the extractive reader "
                   "(default: a verbatim span, or the refusal) or the generator (written answers)")
    p.add_argument("--reader", metavar="PATH", help=f"reader folder or packaged reader name (default {DEFAULT_READER})")
    p.add_argument("--adapter", metavar="PATH", help="PEFT LoRA adapter folder or packaged adapter name "
                   "('none' = the base model alone)")
    p.add_argument("--mode", choices=ANSWER_MODES, help="free text, or a verbatim span of one "
                   "source (or the refusal)")
    p.add_argument("--refusal-threshold", metavar="X", help="refuse when the engine's margin is below X: "
                   "the reader's no-answer gap, the generator's log P(answer) - log P(refusal) (default: "
                   "the reader's or the adapter's card; 'none' = the card's too)")
    p.add_argument("--min-confidence", metavar="P", help="with a verifier in the reader's card: refuse "
                   "answers whose confidence (the probability they are right) is below P (default: the card's)")
    p.add_argument("--min-score", type=float, help="refuse without generating below this top score")
    p.add_argument("--min-support", metavar="S", help="withdraw answers whose groundedness is below "
                   f"S (0-1, 'none' = off; default {AnswerConfig.min_support})")
    p.add_argument("--max-new-tokens", type=int, help="answer length limit in tokens")
    p.add_argument("--closed-book", action="store_true", help="no retrieval: the model on its own")
    p.add_argument("--retrieval", choices=retrieval_modes(), help="route(s): embeddings (dense), "
                   "BM25 (lexical), both fused (hybrid), or a registered route")
    p.add_argument("--mmr", metavar="LAMBDA", help="diversify the candidates by MMR (0 diverse - 1 relevant)")
    p.add_argument("--votes", type=int, help="drafts voted on, each with the chunks in another order")
    p.add_argument("--source", metavar="ROOT_OR_GLOB", help="only chunks of this root (its label) or of "
                   "documents matching GLOB ('handbook/*.md')")
    p.add_argument("--pages", metavar="RANGE", help="only chunks of these pages: 7, 3-7, 3- or -7")
    p.add_argument("--section", metavar="S", help="only chunks under this Markdown section (or glob)")
    p.add_argument("--no-stream", action="store_true", help="print the answer when complete")
    p.add_argument("--server", metavar="URL", help="ask this running `rag serve` (default: $RAG_SERVER); "
                   "without one answering, the question is answered here")


# Options a server cannot take per question: with them, the question is answered locally.
LOCAL_ONLY = ("reader", "adapter", "mode", "refusal_threshold", "min_confidence", "min_score", "min_support", "max_new_tokens", "mmr",
              "votes", "index", "config")


@command(_register_ask)
def cmd_ask(args: argparse.Namespace) -> int:
    remote = _remote_stream(args)
    if remote is not None:
        return _show(args, remote)
    pipeline = pipeline_from(args, k=args.k, engine=args.engine, adapter=args.adapter, min_score=args.min_score,
                             **{"answer.reader": args.reader, "answer.min_confidence": args.min_confidence},
                             min_support=args.min_support, max_new_tokens=args.max_new_tokens,
                             mode=args.mode, refusal_threshold=args.refusal_threshold,
                             retrieval=args.retrieval, mmr=args.mmr, votes=args.votes)
    chosen = parse_filter({"source": args.source, "pages": args.pages, "section": args.section})
    # The answering model loads (reads the graph or the weights) while the index is opened and searched.
    loading = threading.Thread(target=_load_quietly, args=(pipeline, args.closed_book), name="rag-load-answerer")
    loading.start()
    try:
        return _show(args, pipeline.chain(closed_book=args.closed_book).stream(args.question, chunk_filter=chosen))
    finally:
        loading.join()  # never leave a thread importing while the interpreter shuts down


def _load_quietly(pipeline: Any, closed_book: bool) -> None:
    """Load the engine's model ahead of need; a failure is left to the chain, which raises it."""
    with contextlib.suppress(Exception):  # the chain's own call reports it
        if pipeline.config.answer.engine == "reader" and not closed_book:
            pipeline.reader()
        else:
            pipeline.generator()


def _remote_stream(args: argparse.Namespace) -> Any:
    """The configured server's answer stream, or None to answer here: no server configured,
    none answering (said on stderr), or an option only a local pipeline takes."""
    from rag.cli.remote import RemoteStream, ServerUnavailableError, check_server, server_url

    url = server_url(args.server)
    if url is None:
        return None
    local = [f"--{name.replace('_', '-')}" for name in LOCAL_ONLY if getattr(args, name, None) is not None]
    if local or args.closed_book:
        print(f"rag ask: {', '.join(local) or '--closed-book'} needs the local pipeline: not asking {url}",
              file=sys.stderr)
        return None
    try:
        check_server(url)
    except ServerUnavailableError as exc:
        print(f"rag ask: {exc}; answering here", file=sys.stderr)
        return None
    body: dict[str, Any] = {"question": args.question}
    if args.k is not None:
        body["k"] = args.k
    if args.retrieval is not None:
        body["retrieval"] = args.retrieval
    if args.engine is not None:
        body["engine"] = args.engine
    chosen = {k: v for k, v in {"source": args.source, "pages": args.pages, "section": args.section}.items() if v}
    if chosen:
        body["filter"] = chosen
    return RemoteStream(url, body)


def _show(args: argparse.Namespace, stream: Any) -> int:
    """Print an answer stream (local or remote): JSON, whole, or piece by piece, then sources."""
    if args.json or args.no_stream:
        for _ in stream:
            pass
        if args.json:
            print_json(stream.answer.to_dict())  # the same object as `rag serve`'s POST /ask
            return 0
        print(stream.answer.text)
    else:
        for piece in stream:
            print(piece, end="", flush=True)
        print()
    _print_sources(stream.answer)
    return 0


UNITS = {".pptx": "slide", ".epub": "chapter", ".tif": "frame", ".tiff": "frame"}  # what a page is, by format


def cite(s: Any) -> str:
    """How a source is cited: 'deck.pptx, slide 4, section "Launch"' (OCR text marked)."""
    unit = next((u for ext, u in UNITS.items() if s.source.lower().endswith(ext)), "page")
    page = f", {unit} {s.page}" if s.page is not None else ""
    section = f', section "{s.section}"' if s.section else ""
    return f"{s.source}{page}{section}" + (" (OCR)" if getattr(s, "ocr", False) else "")


def _print_sources(answer: Any) -> None:
    if answer.votes:
        print("votes: " + ", ".join(f"{count} x {key!r}" for key, count in answer.votes))
    if answer.refused and answer.reason == "low_confidence" and answer.confidence is not None:
        print(f"(refused: confidence {answer.confidence:.2f} is below the threshold)")
    elif answer.refused:
        print(f"(refused{': ' + answer.reason if answer.reason else ''})")
    elif answer.span is not None:
        print(f"\nFrom [{answer.span.block}]: {answer.span.marked()}")
    if answer.sources:
        print("\nSources:")
        for number, s in enumerate(answer.sources, 1):
            mark = "*" if number in answer.cited else " "
            print(f" {mark}[{number}] {cite(s)}  (score {s.score:.2f})")
    t = answer.timings
    support = f", support {answer.support:.2f}" if answer.support is not None else ""
    support += f", margin {answer.margin:.2f}" if answer.margin is not None else ""
    support += f", confidence {answer.confidence:.2f}" if answer.confidence is not None else ""
    if answer.engine == "reader":
        print(f"\n{t.total:.2f} s (embed {t.embed_query:.2f}, retrieve {t.retrieve:.2f}, "
              f"read {t.generate:.2f}; {t.prompt_tokens} tokens read{support})")
        return
    print(f"\n{t.total:.2f} s (embed {t.embed_query:.2f}, retrieve {t.retrieve:.2f}, "
          f"generate {t.generate:.2f}, check {t.check_support:.2f}; {t.tokens_generated} tokens{support})")
