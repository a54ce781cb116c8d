"""Writing a trained reader folder (rag.answer.reader.folder): fp16 weights, config, tokenizer."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def save_reader(model: Any, encoder: Path, out: Path, settings: Any) -> None:
    """Write `model` (BertForQuestionAnswering) into `out` as fp16 safetensors with its config,
    the encoder's tokenizer.json and the window settings it was trained with."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    config.update(reader_max_length=settings.max_length, reader_stride=settings.stride,
                  architectures=["BertForQuestionAnswering"])
    import json

    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    weights = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(encoder / "tokenizer.json", out / "tokenizer.json")
