"""A model folder's tokenizer (tokenizer.json, the `tokenizers` library) and chat template
(Jinja, rendered as transformers renders it), without importing transformers: the text side of
the ONNX Runtime generator. Gives the same ids as transformers' `apply_chat_template` (tested)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import ModelLoadError
from rag.generator.base import Messages


class ChatCodec:
    """Tokenizer and chat template of the model in `folder` (a `TextCodec`).

    Raises:
        ModelLoadError: no tokenizer.json, or no chat template (chat_template.jinja or
            tokenizer_config.json's "chat_template").
    """

    def __init__(self, folder: Path) -> None:
        import jinja2.sandbox
        from jinja2.ext import loopcontrols
        from tokenizers import Tokenizer

        if not (folder / "tokenizer.json").is_file():
            raise ModelLoadError(f"model folder {str(folder)!r} has no tokenizer.json")
        config = _read_json(folder / "tokenizer_config.json")
        template = config.get("chat_template")
        if (folder / "chat_template.jinja").is_file():
            template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
        if not isinstance(template, str):
            raise ModelLoadError(f"model folder {str(folder)!r} has no chat template "
                                 "(chat_template.jinja or tokenizer_config.json's chat_template)")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.special = {name: _token_text(config.get(name)) for name in ("bos_token", "eos_token")}
        environment = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                                   extensions=[loopcontrols])
        environment.filters["tojson"] = lambda value, **kw: json.dumps(value, ensure_ascii=False, **kw)
        environment.globals["raise_exception"] = _raise
        self.template = environment.from_string(template)
        eos = self.special["eos_token"]
        self.eos_id = self.tokenizer.token_to_id(eos) if eos else None

    def chat_ids(self, messages: Messages) -> list[int]:
        text = self.template.render(messages=[dict(m) for m in messages], add_generation_prompt=True,
                                    **{k: v for k, v in self.special.items() if v})
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        encoded = self.tokenizer.encode(text, add_special_tokens=False)
        return list(encoded.ids), [(int(a), int(b)) for a, b in encoded.offsets]

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))


def _read_json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    return value.get("content") if isinstance(value, dict) else value


def _raise(message: str) -> None:
    raise ModelLoadError(f"the model's chat template refused the messages: {message}")
