"""The reader's network on PyTorch: the fallback when ONNX cannot be used, the exporter of the
ONNX graph, and the reference the ONNX spans are checked against. Only this module of the reader
imports torch and transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ModelLoadError


def load_network(folder: Path) -> Any:
    """BertForQuestionAnswering from a reader folder, in fp32, in eval mode, eager attention.

    Raises:
        ModelLoadError: the weights do not fit the config.
    """
    import torch
    from transformers import BertForQuestionAnswering

    try:
        model = BertForQuestionAnswering.from_pretrained(str(folder), torch_dtype=torch.float32,
                                                         attn_implementation="eager")
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"reader folder {str(folder)!r} cannot be loaded: {exc}") from exc
    return model.eval()


class TorchReaderNetwork:
    """start/end logits of a batch of windows on PyTorch."""

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.model = load_network(folder)

    def logits(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
        return out.start_logits.float().numpy(), out.end_logits.float().numpy()


def export_onnx(folder: Path, target: Path) -> None:
    """Write the reader as an ONNX graph: input_ids, attention_mask, token_type_ids [batch,
    tokens] in; start_logits, end_logits [batch, tokens] out.

    Raises:
        ModelLoadError: the export fails.
    """
    import torch

    model = load_network(folder)

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.start_logits, out.end_logits

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.ones(2, 8, dtype=torch.long)
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "start_logits", "end_logits"]}
    try:
        with torch.no_grad():
            torch.onnx.export(Logits().eval(), (sample, torch.ones_like(sample), torch.zeros_like(sample)),
                              str(target), input_names=names, output_names=["start_logits", "end_logits"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
    except Exception as exc:  # noqa: BLE001 - reported as a load failure; the caller falls back
        raise ModelLoadError(f"cannot export reader {str(folder)!r} to ONNX: {type(exc).__name__}: {exc}") from exc
