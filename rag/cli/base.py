"""What every `rag` sub-command module shares: the registry of commands, the common options, the
Pipeline built from them, JSON output. rag.cli imports the command modules; they import this,
never rag.cli, so the command modules and the entry point form no circle."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from rag.errors import ConfigError, IndexNotFoundError, InputError, NothingToIngestError

USAGE_ERRORS = (ConfigError, InputError, NothingToIngestError, IndexNotFoundError)
Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], Handler]] = {}


def command(register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]) -> Callable[[Handler], Handler]:
    """Register a sub-command: `register` adds its parser, the decorated function runs it."""
    def wrap(handler: Handler) -> Handler:
        COMMANDS[handler.__name__.removeprefix("cmd_").replace("_", "-")] = (register, handler)
        return handler
    return wrap


def pipeline_from(args: argparse.Namespace, **options: Any) -> Any:
    """A Pipeline from --config, --index and the given options (None values are skipped)."""
    from rag.pipeline import Pipeline

    return Pipeline(index=args.index, config=config_from(args), **{k: v for k, v in options.items() if v is not None})


def config_from(args: argparse.Namespace) -> Any:
    """The configuration of --config with the engines named by --chroma and --embedding-endpoint."""
    from rag.config import load_config

    return load_config(args.config, overrides={"index.chroma_url": getattr(args, "chroma", None),
                                               "embedding.endpoint": getattr(args, "embedding_endpoint", None)})


def chroma_option(p: argparse.ArgumentParser) -> None:
    """--chroma and --embedding-endpoint: the servers an index may live on and be embedded by."""
    p.add_argument("--chroma", metavar="URL", help="a Chroma server's http://host:port instead of a local "
                   "index folder (env RAG_CHROMA_URL, config index.chroma_url)")
    p.add_argument("--embedding-endpoint", metavar="URL", help="embed on an OpenAI-compatible server "
                   "(http://host:port/v1) instead of in process (env RAG_EMBEDDING_ENDPOINT, config "
                   "embedding.endpoint)")


def common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", metavar="PATH", help="index folder (default: rag_index, env RAG_INDEX)")
    chroma_option(p)
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: ./rag.toml if present)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))
