"""The `rag` command: the parser and the index commands (entry), the helpers every command
shares (base), and one module per larger command (ask, export, finetune, serve, train_reader;
remote: `rag ask --server`). Commands import base, never entry."""

from rag.cli.entry import build_parser, main

__all__ = ["build_parser", "main"]
