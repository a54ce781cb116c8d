"""Export a Llama-architecture causal LM (SmolLM2 and its kin) from a safetensors folder to one
ONNX graph with an explicit key/value cache, for rag.generator.onnx_lm.

The graph is written from a forward pass spelled out here (RMSNorm, rotary positions, grouped
query attention, SiLU MLP) rather than traced through transformers' cache classes: plain tensors
in and out, so the trace is exact and stable across transformers versions. After writing, the
graph's logits are checked against the transformers model's on a sample (by the loader,
rag.generator.onnx_lm); an export that does not agree is refused.

Graph inputs: input_ids (1, n) int64; past_keys, past_values (layers, 1, kv_heads, p, head_dim);
logits_count () int64. Outputs: logits of the last `logits_count` positions (1, c, vocabulary)
and the keys and values of all p + n positions.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from rag.errors import ModelLoadError

log = logging.getLogger(__name__)
EXPORT_VERSION = "llama-kv-v1"  # bump when the exported graph changes
MAX_EXPORT_BYTES = 1_900_000_000  # one ONNX file holds at most 2 GB of weights


class UnsupportedModel(ModelLoadError):
    """The model cannot go to ONNX Runtime (another architecture, too large): use PyTorch."""


def llama_settings_of(config: dict[str, Any]) -> dict[str, Any]:
    """The shape of a plain Llama network from its config.json.

    Raises:
        UnsupportedModel: another architecture, biases, rotary scaling or another activation.
    """
    rope = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    theta = rope.get("rope_theta", config.get("rope_theta"))
    plain = (config.get("model_type") == "llama" and not config.get("attention_bias") and not config.get("mlp_bias")
             and config.get("hidden_act") == "silu" and rope.get("rope_type", "default") == "default"
             and theta is not None)
    if not plain or theta is None:
        raise UnsupportedModel(f"the ONNX generator takes plain Llama models; this one is "
                               f"{config.get('model_type')!r} (rope {rope or 'default'}, act {config.get('hidden_act')!r})")
    heads = int(config["num_attention_heads"])
    return {"layers": int(config["num_hidden_layers"]), "heads": heads, "kv_heads": int(config["num_key_value_heads"]),
            "head_dim": int(config.get("head_dim") or config["hidden_size"] // heads),
            "eps": float(config["rms_norm_eps"]), "theta": float(theta)}


def export_llama(folder: Path, target: Path) -> tuple[Any, Any]:
    """Write `folder`'s model (safetensors weights, float32) to `target` as an ONNX graph.

    Returns:
        A sample of input ids (1, n) and transformers' logits for it (n, vocabulary), for the
        caller to check the graph against.

    Raises:
        UnsupportedModel: not a plain Llama, or too large for one ONNX file.
        ModelLoadError: the export failed or its logits disagree with transformers'.
    """
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    settings = llama_settings_of(model.config.to_dict())
    size = sum(p.numel() * 4 for p in model.parameters())
    if size > MAX_EXPORT_BYTES:
        raise UnsupportedModel(f"the model's weights take {size / 1e9:.1f} GB; one ONNX file holds at most 2 GB")
    network = _spelled_out(model, settings)
    empty = torch.zeros(settings["layers"], 1, settings["kv_heads"], 0, settings["head_dim"])
    sample = torch.arange(3, 27, dtype=torch.long)[None] % model.config.vocab_size
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it records as constants
            torch.onnx.export(network, (sample, empty, empty.clone(), torch.tensor(1)), str(target),
                              input_names=["input_ids", "past_keys", "past_values", "logits_count"],
                              output_names=["logits", "keys", "values"],
                              dynamic_axes={"input_ids": {1: "n"}, "past_keys": {3: "p"}, "past_values": {3: "p"},
                                            "logits": {1: "c"}, "keys": {3: "t"}, "values": {3: "t"}},
                              opset_version=17, dynamo=False)
            expected = model(input_ids=sample).logits[0].numpy()
    except Exception as exc:  # noqa: BLE001 - reported as a load failure naming the cause
        raise ModelLoadError(f"cannot export {folder.name!r} to ONNX: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:300]}") from exc
    return sample.numpy(), expected


def _spelled_out(model: Any, s: dict[str, Any]) -> Any:
    """A torch module computing `model`'s forward pass on plain key/value tensors."""
    import torch
    from torch.nn.functional import linear, silu

    inner, heads, kv_heads, dim = model.model, s["heads"], s["kv_heads"], s["head_dim"]
    group = heads // kv_heads
    frequencies = 1.0 / (s["theta"] ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))

    def norm(x: Any, weight: Any) -> Any:
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + s["eps"]))

    class Network(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.source = model  # registered, so its weights export as the graph's initializers

        def forward(self, input_ids: Any, past_keys: Any, past_values: Any, logits_count: Any) -> Any:
            n, past = input_ids.shape[1], past_keys.shape[3]
            angles = (torch.arange(n, dtype=torch.float32) + past)[:, None] * frequencies[None, :]
            cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()

            def rotate(x: Any) -> Any:
                return x * cos + torch.cat([-x[..., dim // 2:], x[..., :dim // 2]], -1) * sin

            query_at = torch.arange(n)[:, None] + past
            mask = torch.where(torch.arange(past + n)[None, :] <= query_at, 0.0, float("-inf"))
            x = inner.embed_tokens(input_ids)
            keys, values = [], []
            for i, layer in enumerate(inner.layers):
                a, h = layer.self_attn, norm(x, layer.input_layernorm.weight)
                q = rotate(a.q_proj(h).view(1, n, heads, dim).transpose(1, 2))
                k = torch.cat([past_keys[i], rotate(a.k_proj(h).view(1, n, kv_heads, dim).transpose(1, 2))], 2)
                v = torch.cat([past_values[i], a.v_proj(h).view(1, n, kv_heads, dim).transpose(1, 2)], 2)
                keys.append(k)
                values.append(v)
                # Grouped-query attention: each key/value head serves `group` query heads.
                scores = (q.reshape(1, kv_heads, group * n, dim) @ k.transpose(-1, -2)) / dim ** 0.5
                weights = torch.softmax(scores.reshape(1, kv_heads, group, n, -1) + mask, -1)
                attended = (weights.reshape(1, kv_heads, group * n, -1) @ v).reshape(1, heads, n, dim)
                x = x + a.o_proj(attended.transpose(1, 2).reshape(1, n, heads * dim))
                h = norm(x, layer.post_attention_layernorm.weight)
                x = x + layer.mlp.down_proj(silu(layer.mlp.gate_proj(h)) * layer.mlp.up_proj(h))
            last = norm(x.index_select(1, torch.arange(n - logits_count, n)), inner.norm.weight)
            return linear(last, model.lm_head.weight), torch.stack(keys), torch.stack(values)

    return Network().eval()
