"""QLoRA (Dettmers et al. 2023): the frozen base in 4-bit NormalFloat with its quantization
constants quantized again, LoRA on every linear projection on top, gradient checkpointing.
`rag finetune --qlora` trains the adapter this way; it is served like any other adapter, on the
full-precision base (the 4-bit base only saves memory while training).

bitsandbytes is an extra (`pip install localrag[qlora]`). On a CPU with avx512_bf16 its import
would fetch an optimized kernel from a model hub (the `kernels` package); `import_bitsandbytes`
makes that import fail before it can reach the network, so bitsandbytes falls back to its own
implementation, and keeps its warning about it out of the user's terminal.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

log = logging.getLogger(__name__)
QLORA_EXTRA = "pip install 'localrag[qlora]' (bitsandbytes)"


def import_bitsandbytes() -> Any:
    """bitsandbytes, imported with its hub kernel fetch disabled.

    Raises:
        ConfigError: bitsandbytes is not installed (names the extra).
    """
    if sys.modules.get("bitsandbytes") is None:
        kernels = sys.modules.get("kernels")
        sys.modules["kernels"] = None  # type: ignore[assignment]  # `from kernels import ...` now fails, offline
        quiet = logging.getLogger("bitsandbytes")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ConfigError(f"--qlora needs bitsandbytes: {QLORA_EXTRA}") from None
        finally:
            quiet.setLevel(level)
            if kernels is None:
                del sys.modules["kernels"]
            else:
                sys.modules["kernels"] = kernels
    return sys.modules["bitsandbytes"]


def optimizer_class(model: Any) -> Any:
    """A paged 8-bit AdamW on a CUDA model (bitsandbytes offers it there), else torch's AdamW."""
    import torch

    if next(model.parameters()).is_cuda:
        return import_bitsandbytes().optim.PagedAdamW8bit
    return torch.optim.AdamW


def quantized_base(folder: str | Path, compute_dtype: str | None = None) -> Any:
    """The base model of `folder` with every linear layer in 4-bit NF4 (double quantization),
    prepared for k-bit training with gradient checkpointing, on CUDA when there is one. It
    computes in `compute_dtype`, by default bfloat16 on a GPU that has it (QLoRA's choice) and
    float32 on a CPU (bitsandbytes' CPU path dequantizes in plain PyTorch, faster in float32).

    Raises:
        ConfigError: bitsandbytes is not installed.
    """
    import_bitsandbytes()
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if compute_dtype is None:
        compute_dtype = "bfloat16" if device == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    dtype = getattr(torch, compute_dtype)
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=dtype)
    model = AutoModelForCausalLM.from_pretrained(str(folder), quantization_config=config, device_map=device,
                                                 dtype=dtype)
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)


def four_bit_layers(model: Any) -> tuple[int, int]:
    """(linear layers stored in 4 bits, other linear layers) of a model: what the tests assert."""
    import torch

    bnb = import_bitsandbytes()
    quantized = sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    plain = sum(isinstance(m, torch.nn.Linear) and not isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    return quantized, plain
