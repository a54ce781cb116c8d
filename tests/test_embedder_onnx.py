"""The ONNX Runtime embedder against PyTorch with the real MiniLM: the same vectors on real
text, an index that does not care which backend embedded it, a cached export, a fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO

from rag import Pipeline
from rag.config import RagConfig, apply_options
from rag.errors import ConfigError, ModelLoadError

pytestmark = pytest.mark.integration


def demo_texts() -> list[str]:
    """Paragraphs of the demo articles, short and long (past the 256-token limit too)."""
    texts = []
    for path in sorted(DEMO.glob("*.md")):
        texts += [p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()][:25]
    return texts + ["Who invented packet switching?", "a", "x " * 600]


def test_onnx_and_pytorch_give_the_same_vectors_on_real_text(minilm, minilm_torch) -> None:
    texts = demo_texts()
    onnx, torch = minilm.embed_documents(texts), minilm_torch.embed_documents(texts)
    assert onnx.shape == torch.shape == (len(texts), 384) and onnx.dtype == np.float32
    cosines = (onnx * torch).sum(axis=1)
    assert cosines.min() >= 0.9999, (cosines.min(), texts[int(cosines.argmin())][:80])
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    assert (minilm.name, minilm.dimension, minilm.max_tokens) == (minilm_torch.name, 384, 256)
    assert minilm.count_tokens(texts[0]) == minilm_torch.count_tokens(texts[0])
    assert np.allclose(minilm.embed_query(texts[3]), onnx[3], atol=1e-6)  # batch makeup changes nothing


def test_an_index_does_not_care_which_backend_embedded_it(tmp_path: Path, minilm, minilm_torch) -> None:
    question = "Who invented packet switching?"
    built_by_torch = Pipeline(index=tmp_path / "index", embedder=minilm_torch, retrieval="dense")
    built_by_torch.ingest(DEMO, progress=False)
    by_torch = [h.chunk.id for h in built_by_torch.retriever().retrieve(question, 5).hits]
    read_by_onnx = Pipeline(index=tmp_path / "index", embedder=minilm, retrieval="dense")
    assert [h.chunk.id for h in read_by_onnx.retriever().retrieve(question, 5).hits] == by_torch
    report = read_by_onnx.ingest(DEMO, progress=False)
    assert report.chunks_upserted == 0  # nothing re-embedded: the stored vectors stay valid


def test_the_export_is_cached_and_reused(minilm, tmp_path: Path) -> None:
    from rag.embedding.onnx import OnnxEmbedder

    assert minilm.graph.is_file() and minilm.graph.parent.name == "models"
    again = OnnxEmbedder()
    assert again.graph == minilm.graph  # keyed by the weights' content, not by the process
    stamp = minilm.graph.stat().st_mtime_ns
    again.load()
    assert minilm.graph.stat().st_mtime_ns == stamp and not again.fallback


def test_a_failed_export_falls_back_to_pytorch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minilm_torch) -> None:
    from rag.embedding import SentenceTransformerEmbedder
    from rag.embedding.onnx import OnnxEmbedder

    def broken(self, target):  # type: ignore[no-untyped-def]
        raise ModelLoadError("no onnx package")

    monkeypatch.setattr(SentenceTransformerEmbedder, "export_onnx", broken)
    embedder = OnnxEmbedder(cache_dir=tmp_path / "cache")
    vectors = embedder.embed_documents(["Bees make honey."])
    assert embedder.fallback and not embedder.graph.exists()
    assert float(vectors[0] @ minilm_torch.embed_query("Bees make honey.")) > 0.9999


def test_the_backend_setting_is_checked() -> None:
    assert RagConfig().embedding.backend == "onnx"
    with pytest.raises(ConfigError, match="embedding.backend"):
        apply_options(RagConfig(), {"embedding.backend": "tensorflow"})
