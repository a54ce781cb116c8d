"""The fine-tuned generator in a form llama.cpp serves: one f16 GGUF with the LoRA adapter merged.

The local engines read the packaged GGUF dequantized to float32 and add the adapter's update
(scale * B @ A) to each targeted weight. This writes the same sum, tensor by tensor, into a GGUF
that keeps every metadata key of the base file (tokenizer, chat template, rope settings), so
llama.cpp's `llama-server -m FILE` answers as the local engine does. Two details of the format:
- GGUF keeps Llama's query and key weights with their rows permuted for llama.cpp's rope
  (convert_hf_to_gguf.py's `permute`; transformers undoes it on load), so their updates are
  permuted the same way before they are added;
- 2-D weights are stored as f16 (what llama.cpp's own converter writes by default) and norms as
  f32; nothing is re-quantized, which would change answers.

Of the generator package, only this module imports the `gguf` package (rag.embedding.gguf_bert
writes the embedding model's GGUF).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from rag.errors import ModelLoadError

log = logging.getLogger(__name__)
GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down"}
PREFIX = "base_model.model.model.layers."


def permute(weights: Any, n_head: int, n_head_kv: int | None = None) -> Any:
    """Rows of a query/key weight in llama.cpp's order (convert_hf_to_gguf.py's LlamaModel.permute)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def lora_updates(adapter: str | Path) -> dict[str, Any]:
    """{GGUF tensor name: scale * B @ A (float32, HF row order)} of a PEFT LoRA folder.

    Raises:
        ModelLoadError: not a plain LoRA adapter (DoRA, rsLoRA, per-module ranks) or keys that
            name no Llama weight.
    """
    import numpy as np
    from safetensors.numpy import load_file

    folder = Path(adapter)
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    if config.get("peft_type") != "LORA" or config.get("use_dora") or config.get("use_rslora") \
            or config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ModelLoadError(f"adapter {str(folder)!r}: only plain LoRA adapters can be merged into a GGUF")
    scale = float(config["lora_alpha"]) / float(config["r"])
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    updates: dict[str, Any] = {}
    for key, a in tensors.items():
        if not key.endswith(".lora_A.weight"):
            continue
        b = tensors[key.replace(".lora_A.", ".lora_B.")]
        layer, _, module = key.removeprefix(PREFIX).removesuffix(".lora_A.weight").partition(".")
        if not key.startswith(PREFIX) or module not in GGUF_NAMES:
            raise ModelLoadError(f"adapter key {key!r} names no Llama weight this export knows")
        updates[f"blk.{int(layer)}.{GGUF_NAMES[module]}.weight"] = scale * (
            b.astype(np.float32) @ a.astype(np.float32))
    return updates


def export_merged_gguf(base_gguf: str | Path, adapter: str | Path | None, out: str | Path) -> dict[str, Any]:
    """Write `base_gguf` with `adapter` merged (None: the base alone) to `out` as an f16 GGUF.

    Returns:
        {"out", "tensors", "merged": tensors that took an update, "bytes"}.

    Raises:
        ModelLoadError: the base is not a Llama GGUF, or the adapter does not fit it.
    """
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter, LlamaFileType
    from gguf.quants import dequantize

    reader = GGUFReader(str(base_gguf))
    arch = reader.fields["general.architecture"].contents()
    if arch != "llama":
        raise ModelLoadError(f"{str(base_gguf)!r} is a {arch!r} GGUF; the export merges into Llama GGUFs only")
    n_head = int(reader.fields["llama.attention.head_count"].contents())
    n_head_kv = int(reader.fields["llama.attention.head_count_kv"].contents())
    updates = lora_updates(adapter) if adapter is not None else {}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(out), arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type"):
            continue
        sub = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), field.types[0], sub_type=sub)
    writer.add_file_type(LlamaFileType.MOSTLY_F16)
    merged = 0
    for tensor in reader.tensors:
        weights = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        update = updates.pop(tensor.name, None)
        if update is not None:
            if update.shape != weights.shape:
                raise ModelLoadError(f"adapter update for {tensor.name} is {update.shape}; the weight is "
                                     f"{weights.shape}: the adapter was made for another model")
            if tensor.name.endswith("attn_q.weight"):
                update = permute(update, n_head, n_head)
            elif tensor.name.endswith("attn_k.weight"):
                update = permute(update, n_head, n_head_kv)
            weights = weights + update
            merged += 1
        kind = GGMLQuantizationType.F16 if weights.ndim > 1 else GGMLQuantizationType.F32
        writer.add_tensor(tensor.name, weights.astype(np.float16 if weights.ndim > 1 else np.float32),
                          raw_dtype=kind)
    if updates:
        raise ModelLoadError(f"the adapter updates weights the GGUF lacks: {sorted(updates)[:3]}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    log.info("wrote %s: %d tensors, %d with the adapter merged", out, len(reader.tensors), merged)
    return {"out": str(out), "tensors": len(reader.tensors), "merged": merged, "bytes": out.stat().st_size}
