"""A reader folder: what `rag train-reader` writes and the reader loads.

    config.json        the encoder's BertConfig with the span head (BertForQuestionAnswering)
    model.safetensors  the weights (fp16 when shipped)
    tokenizer.json     the encoder's tokenizer
    card.json          how it was made: data, mix, steps, figures, and `no_answer_threshold`

The packaged reader lives in rag/readers/NAME/ and is found by its name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.errors import InputError

DEFAULT_READER = "squad2-minilm"
FILES = ("config.json", "model.safetensors", "tokenizer.json")


class ReaderLoadError(InputError):
    """A reader folder that is missing, incomplete, or made for another tokenizer."""


def packaged_readers() -> dict[str, Path]:
    root = Path(__file__).resolve().parents[2] / "readers"
    return {p.name: p for p in sorted(root.iterdir()) if (p / "config.json").is_file()} if root.is_dir() else {}


def resolve_reader(name_or_path: str | Path) -> Path:
    """The folder of a packaged reader's name or of a path.

    Raises:
        ReaderLoadError: no such folder, or one lacking config.json, model.safetensors or
            tokenizer.json.
    """
    packaged = packaged_readers()
    folder = packaged.get(str(name_or_path), Path(name_or_path))
    if not folder.is_dir():
        known = ", ".join(packaged) or "none"
        raise ReaderLoadError(f"reader {str(name_or_path)!r} is neither a folder nor a packaged reader "
                              f"(packaged: {known})")
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise ReaderLoadError(f"reader folder {str(folder)!r} lacks {', '.join(missing)}: expected a "
                              "folder written by `rag train-reader`")
    return folder


def read_card(folder: Path) -> dict[str, Any]:
    path = folder / "card.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def check_tokenizer(folder: Path) -> dict[str, Any]:
    """The folder's config, checked against its tokenizer: the vocabulary sizes must agree.

    Raises:
        ReaderLoadError: an unreadable config or a tokenizer of another vocabulary.
    """
    from rag.answer.reader.windows import ReaderTokenizer

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        vocab = int(config["vocab_size"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ReaderLoadError(f"reader folder {str(folder)!r}: config.json is not a BERT config: {exc}") from None
    tokenizer = ReaderTokenizer(folder / "tokenizer.json")
    if tokenizer.vocab_size != vocab:
        raise ReaderLoadError(f"reader folder {str(folder)!r}: tokenizer.json has {tokenizer.vocab_size} "
                              f"tokens but the model was trained on {vocab}: a reader for another tokenizer")
    return dict(config)


def encoder_folder(name: str | None) -> Path:
    """The encoder a reader starts from: a folder, or the packaged all-MiniLM-L6-v2."""
    from rag.embedding import resolve_embedding_model

    return resolve_embedding_model(name or "all-MiniLM-L6-v2")
