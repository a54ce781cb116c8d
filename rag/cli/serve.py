"""`rag serve`: the HTTP server (FastAPI app of rag.serve on uvicorn) over one loaded pipeline.
Registered with the `rag` command by rag.cli."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from rag.cli.base import chroma_option, command, pipeline_from
from rag.errors import ConfigError
from rag.serve.jobs import interrupted
from rag.serve.limits import ServeLimits

API_KEY_ENV = "RAG_API_KEY"


def _register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve ask, an OpenAI-compatible API and ingest over HTTP",
                       description="One process, one loaded model; requests queue for it. Bound to "
                       f"loopback by default; bound elsewhere it needs ${API_KEY_ENV}.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    p.add_argument("--index", metavar="PATH", help="index folder (default: rag_index, env RAG_INDEX)")
    chroma_option(p)
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: ./rag.toml if present)")
    p.add_argument("--queue-timeout", type=float, default=120.0, metavar="S",
                   help="seconds a request waits for the busy model before a 503 (default %(default)s)")
    p.add_argument("--reports", metavar="DIR", help="a folder of `rag eval` outputs the page shows")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host name to answer besides loopback and --host (a reverse proxy's public "
                   "name; repeatable; '*' answers any, which gives up the DNS-rebinding check)")
    p.add_argument("--ingest-root", action="append", default=[], metavar="DIR",
                   help="allow POST /ingest of folders under DIR (repeatable; default: none, ingest over "
                   "HTTP is off)")
    p.add_argument("--max-question-chars", type=int, default=ServeLimits.max_question_chars, metavar="N",
                   help=f"longest question read (default {ServeLimits.max_question_chars})")
    p.add_argument("--max-waiting", type=int, default=ServeLimits.max_waiting, metavar="N",
                   help=f"requests queued for the model; one more is a 503 at once (default {ServeLimits.max_waiting})")
    p.add_argument("--docs", action="store_true", help="serve the OpenAPI schema at /openapi.json (behind the key)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@command(_register)
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rag.serve import create_app

    api_key = os.environ.get(API_KEY_ENV) or None
    if not is_loopback(args.host) and not api_key:
        raise ConfigError(f"--host {args.host} is reachable from other machines: set {API_KEY_ENV} "
                          "to the API key clients must send (Authorization: Bearer KEY)")
    pipeline = pipeline_from(args)
    pipeline.store()  # a missing index fails now, not at the first question
    half = interrupted(pipeline.info(), f" --index {args.index}" if args.index else "")
    if half is not None:
        print(f"rag serve: warning: {half['message']}: {half['command']}", file=sys.stderr, flush=True)
    limits = ServeLimits(max_question_chars=args.max_question_chars, max_waiting=args.max_waiting)
    app = create_app(pipeline, api_key=api_key, queue_timeout=args.queue_timeout, reports=args.reports,
                     preload=True, bind=args.host, allowed_hosts=args.allowed_host, ingest_roots=args.ingest_root,
                     limits=limits, docs=args.docs)
    ingest = ", ".join(args.ingest_root) if args.ingest_root else "off (--ingest-root DIR)"
    auth = f"API key required ({API_KEY_ENV})" if api_key else "no API key (loopback only)"
    print(f"rag serve: the page and API at http://{args.host}:{args.port} over "
          f"{pipeline.info()['index']}; {auth}; ingest over HTTP: {ingest}; loading the model",
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
