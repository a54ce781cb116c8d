"""The `rag` command: ingest, info, forget, eval here; ask and finetune in their own modules.

Exit codes: 0 success; 1 partly failed (some files skipped) or a runtime error;
2 usage errors, bad input, or nothing ingestible. Errors print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rag.cli.base import (  # noqa: E402 - after the environment defaults above
    COMMANDS,
    USAGE_ERRORS,
    chroma_option,
    command,
    common_options,
    config_from,
    pipeline_from,
    print_json,
)
from rag.config import ANSWER_ENGINES  # noqa: E402
from rag.errors import RagError  # noqa: E402

__all__ = ["COMMANDS", "USAGE_ERRORS", "build_parser", "chroma_option", "command", "common_options", "main",
           "pipeline_from", "print_json"]


@command(lambda sub: common_options(sub.add_parser(
    "ingest", help="add a folder (or a document) to the index, or update it (incremental)",
    description="Add DIR to the index as a root, or bring that root up to date: unchanged files cost "
    "nothing, files gone from DIR are deleted; the index's other roots are left as they are.")))
def cmd_ingest(args: argparse.Namespace) -> int:
    report = pipeline_from(args).ingest(args.dir, progress=not args.json and sys.stderr.isatty(),
                                        replace=args.replace, label=args.label)
    if args.json:
        print_json(report.to_dict())
    else:
        kind = "new root" if report.new_root else "root"
        print(f"{kind} {report.root}: {report.files_seen} files seen: {report.files_added} added, "
              f"{report.files_updated} updated, {report.files_unchanged} unchanged, {report.files_removed} removed, "
              f"{len(report.files_failed)} failed, {report.files_ignored} ignored; "
              f"{report.chunks_upserted} chunks upserted, {report.chunks_deleted} deleted "
              f"in {report.seconds:.1f} s")
        for failed in report.files_failed:
            print(f"  failed: {failed['path']}: {failed['error']}")
    return report.exit_code


@command(lambda sub: common_options(sub.add_parser("info", help="show what an index holds")))
def cmd_info(args: argparse.Namespace) -> int:
    info = pipeline_from(args).info()
    if args.json:
        print_json(info)
        return 0
    print(f"index: {info['index']} (collection {info['collection']})")
    origin = "" if info["embedding_origin"] == "local" else f", embedded by {info['embedding_origin']}"
    print(f"embedding model: {info['embedding_model']} ({info['embedding_dimension']} dims{origin})")
    for url, cosine in info["embedding_agreement"].items():
        print(f"  {url} agrees with the local model to a minimum cosine of {cosine:.6f}")
    print("embedding backends: " + ", ".join(info["embedding_backends"]))
    print(f"chunker: {info['chunker']}")
    print(f"{len(info['roots'])} roots, {info['files']} files, {info['chunks']} chunks")
    print("formats read: " + ", ".join(f"{kind} ({' '.join(ext)})" for kind, ext in info["formats"].items()))
    for r in info["roots"]:
        flag = "  [interrupted: ingest it again]" if r.get("interrupted") else ""
        print(f"  root {r['label']}: {r['documents']} documents, {r['chunks']} chunks, {r['path'] or '?'}{flag}")
        if r["pdf_extractors"]:
            read = ", ".join(e or "an earlier version (re-read on the next ingest)" for e in r["pdf_extractors"])
            print(f"    PDFs read by {read}")
    if info.get("layout") == 1:
        print("  (an index from before roots: the next `rag ingest` or `rag forget` migrates it, re-embedding nothing)")
    for f in info["sources"]:
        flag = "" if f["status"] == "complete" else f"  [{f['status']}]"
        print(f"  {f['chunks']:6d}  {f['ingested_at']}  {f['source']}{flag}")
    return 0


@command(lambda sub: common_options(sub.add_parser(
    "forget", help="remove a root (by label) or one document (by root/path) from the index")))
def cmd_forget(args: argparse.Namespace) -> int:
    deleted = pipeline_from(args).forget(args.source)
    if args.json:
        print_json({"source": args.source, "chunks_deleted": deleted})
    else:
        print(f"removed {args.source}: {deleted} chunks deleted")
    return 0


def _register_eval(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="measure hallucination, answer and retrieval quality, latency")
    p.add_argument("--data", required=True, help="SQuAD 2.0 .json or hand-written .jsonl")
    p.add_argument("--out", required=True, help="output folder (answers.jsonl, report.*, plots)")
    p.add_argument("--index", metavar="PATH", help="index to build or reuse (default OUT/index)")
    chroma_option(p)
    p.add_argument("--docs", metavar="DIR", help="documents of a JSONL dataset, ingested first")
    p.add_argument("--config", metavar="FILE", help="TOML configuration")
    p.add_argument("--limit", type=int, help="questions to sample (half answerable where possible)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, help="chunks retrieved, for every variant")
    p.add_argument("--adapter", metavar="PATH", help="LoRA adapter, for every variant")
    p.add_argument("--engine", choices=ANSWER_ENGINES, help="who answers, for every variant "
                   "(a variant's engine=... overrides it)")
    p.add_argument("--gold-paragraph", action="store_true", help="read each question against its own "
                   "SQuAD paragraph, no retrieval (comparable with published SQuAD 2.0 figures)")
    p.add_argument("--reader-check", action="store_true", help="also score generated answers with the "
                   "reader's span (reader_detector_auc: the reader as a hallucination detector)")
    p.add_argument("--variants", default="default",
                   help="comma-separated: default, closed-book, key=value (e.g. k=8, engine=generator, "
                   "adapter=PATH)")
    p.add_argument("--articles", default="", help="only these SQuAD articles (comma-separated)")
    p.add_argument("--exclude-articles", default="", help="leave these SQuAD articles out")
    p.add_argument("--threshold", type=float, default=0.5, help="groundedness under which an answer is unsupported")
    p.add_argument("--retrieval-only", action="store_true", help="retrieve and score the hits, "
                   "generate nothing (retrieval metrics of many variants in seconds)")
    p.add_argument("--json", action="store_true", help="print report.json")


@command(_register_eval)
def cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rag.errors import InputError
    from rag.eval.harness import EvalRun, Harness

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be >= 1; got {args.limit}")
    split = lambda text: tuple(t.strip() for t in text.split(",") if t.strip())  # noqa: E731
    options = {k: v for k, v in {"k": args.k, "adapter": args.adapter, "engine": args.engine}.items()
               if v is not None}
    run = EvalRun(data=Path(args.data), out=Path(args.out), index=Path(args.index) if args.index else None,
                  docs=Path(args.docs) if args.docs else None, limit=args.limit, seed=args.seed,
                  variants=split(args.variants) or ("default",), options=options,
                  articles=split(args.articles), exclude_articles=split(args.exclude_articles),
                  threshold=args.threshold, progress=sys.stderr.isatty(), progress_lines=True,
                  retrieval_only=args.retrieval_only, gold_paragraph=args.gold_paragraph,
                  reader_check=args.reader_check)
    report = Harness(run, config=config_from(args)).execute()
    if args.json:
        print_json(report)
    else:
        print((Path(args.out) / "report.md").read_text(encoding="utf-8"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    import rag.cli.ask  # noqa: F401 - registers `rag ask`
    import rag.cli.export  # noqa: F401 - registers `rag export`
    import rag.cli.finetune  # noqa: F401 - registers `rag finetune`
    import rag.cli.serve  # noqa: F401 - registers `rag serve`
    import rag.cli.train_reader  # noqa: F401 - registers `rag train-reader`

    parser = argparse.ArgumentParser(prog="rag", description="Offline retrieval-augmented generation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    for register, _ in COMMANDS.values():
        register(sub)
    sub.choices["ingest"].add_argument("dir", help="document folder, or one document")
    sub.choices["ingest"].add_argument("--replace", action="store_true", help="make DIR the index's only "
                                       "root: every other root's documents are removed")
    sub.choices["ingest"].add_argument("--label", help="the root's label (default: the one DIR already has, "
                                       "else its name); an existing root's label with another DIR moves that root")
    sub.choices["forget"].add_argument("source", help="a root's label, or a document as `rag info` lists "
                                       "it (root/path)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rag` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    if not args.verbose:  # libraries' deprecation notices (peft calling transformers) are not for users
        import warnings

        warnings.filterwarnings("ignore", category=FutureWarning)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return COMMANDS[args.command][1](args)
    except USAGE_ERRORS as exc:
        print(f"rag {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except RagError as exc:
        print(f"rag {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rag {args.command}: interrupted", file=sys.stderr)
        return 130

