"""A sentence-transformers BERT model (MiniLM by default) as one GGUF file that llama.cpp's
`llama-server --embedding --pooling mean` serves: the same network, so the server's vectors
agree with the local ONNX ones (the agreement is measured, rag.embedding.agreement).

It writes what llama.cpp's own converter (convert_hf_to_gguf.py, BertModel) writes: the
WordPiece vocabulary in "phantom space" form (a word-start piece gets "\u2581", a "##" piece
loses its marks), special tokens as control tokens, every tensor in float32 under llama.cpp's
names, mean pooling, no causal mask. llama.cpp's converter needs torch and the llama.cpp
checkout; this needs only the `gguf` package and safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag.embedding.base import read_json, resolve_embedding_model
from rag.errors import ModelLoadError

SKIPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def write_bert_gguf(model: str, target: Path, alias: str | None = None) -> Path:
    """Write `model` (a packaged name or a local sentence-transformers BERT folder) to `target`.

    Args:
        model: the embedding model.
        target: the .gguf file to write.
        alias: the model name recorded in the file (default: the model's name).

    Returns:
        `target`.

    Raises:
        ModelLoadError: not a BERT model with mean pooling, or no tokenizer.json.
    """
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    folder = resolve_embedding_model(model)
    config = read_json(folder / "config.json")
    pooling = read_json(folder / "1_Pooling" / "config.json")
    if config.get("model_type") != "bert" or not pooling.get("pooling_mode_mean_tokens"):
        raise ModelLoadError(f"embedding model {model!r} is not a mean-pooled BERT model: no GGUF")
    blocks = int(config["num_hidden_layers"])
    writer = gguf.GGUFWriter(str(target), "bert")
    writer.add_name(alias or model)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_block_count(blocks)
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_layer_norm_eps(float(config.get("layer_norm_eps", 1e-12)))
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _vocabulary(writer, folder, int(config.get("type_vocab_size", 2)))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, blocks)
    for name, value in load_file(str(folder / "model.safetensors")).items():
        name = name.removeprefix("bert.")
        if name in SKIPPED:
            continue
        mapped = names.get_name(name, try_suffixes=(".weight", ".bias", ".gamma", ".beta"))
        if mapped is None:
            raise ModelLoadError(f"embedding model {model!r}: tensor {name!r} has no llama.cpp name")
        writer.add_tensor(mapped, np.ascontiguousarray(value, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def _vocabulary(writer: object, folder: Path, type_count: int) -> None:
    """The WordPiece vocabulary as llama.cpp's "bert" tokenizer reads it."""
    import gguf

    tokenizer_file = folder / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ModelLoadError(f"embedding model folder {str(folder)!r} has no tokenizer.json: no GGUF")
    tokenizer = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    special = {t["content"] for t in tokenizer.get("added_tokens", []) if t.get("special")}
    ordered = sorted(vocab, key=vocab.__getitem__)
    types = [gguf.TokenType.CONTROL if tok in special else gguf.TokenType.NORMAL for tok in ordered]
    tokens = [tok if kind == gguf.TokenType.CONTROL else tok[2:] if tok.startswith("##") else "\u2581" + tok
              for tok, kind in zip(ordered, types)]
    w: gguf.GGUFWriter = writer  # type: ignore[assignment]
    w.add_token_type_count(type_count)
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    gguf.SpecialVocab(folder, n_vocab=len(tokens)).add_to_gguf(w)
