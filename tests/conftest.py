"""Shared fixtures. No test reaches the network: hub offline, Chroma telemetry off."""

from __future__ import annotations

import contextlib
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.pop("RAG_INDEX", None)
os.environ.pop("RAG_CHROMA_URL", None)
os.environ.pop("RAG_EMBEDDING_ENDPOINT", None)

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from rag.fakes import HashEmbedder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DEV10 = SHARED / "data" / "squad2" / "dev10.json"
DEMO = ROOT / "corpora" / "wiki-demo"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def minilm():
    """The real MiniLM on the default backend (ONNX Runtime), loaded once per session."""
    from rag.embedding.onnx import OnnxEmbedder

    embedder = OnnxEmbedder()
    embedder.load()
    assert not embedder.fallback, "the ONNX export failed: see the warning above"
    return embedder


@pytest.fixture(scope="session")
def minilm_torch():
    """The real MiniLM on PyTorch, loaded once per session."""
    from rag.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def dev10_path() -> Path:
    if not DEV10.is_file():
        pytest.skip(f"{DEV10} not present")
    return DEV10


def write_docs(folder: Path, docs: dict[str, str]) -> Path:
    """Write {file name: text} into `folder` (created) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def make_pdf(path: Path, pages: list[str], password: str | None = None) -> Path:
    """Write a PDF with one text page per entry (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    if password:
        pdf.set_encryption(owner_password=password + "-owner", user_password=password)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


@pytest.fixture(scope="session")
def smollm():
    """The real SmolLM2-135M generator, loaded once per session."""
    from rag.generator import TransformersGenerator

    return TransformersGenerator()


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def save_random_lora(model, folder: Path) -> Path:
    """A LoRA adapter with random (non-zero) weights, as an untrained adapter file would be."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=LORA_TARGETS, init_lora_weights=False,
                        task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def random_adapter(tmp_path_factory, smollm) -> Path:
    """A random LoRA adapter for SmolLM2, saved once per session."""
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(smollm.model.config._name_or_path)
    return save_random_lora(base, tmp_path_factory.mktemp("lora") / "adapter")


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory, minilm) -> Path:
    """corpora/wiki-demo ingested once with the real MiniLM."""
    from rag import Pipeline

    index = tmp_path_factory.mktemp("demo") / "index"
    Pipeline(index=index, embedder=minilm).ingest(DEMO, progress=False)
    return index


def make_eval_report(out: Path, variants: tuple[str, ...] = ("default", "k=1")) -> Path:
    """A real `rag eval` output folder (report.json, report.md, PNGs) from the tiny SQuAD
    fixture with fake models; returns `out`."""
    from rag.eval.harness import EvalRun, Harness
    from rag.fakes import ExtractiveGenerator

    run = EvalRun(data=FIXTURES / "tiny_squad.json", out=out, progress=False, limit=8, seed=1,
                  variants=variants, options={"engine": "generator"})  # type: ignore[arg-type]
    Harness(run, embedder=HashEmbedder(), generator_factory=lambda config: ExtractiveGenerator()).execute()
    return out


def fake_pipeline(tmp_path: Path, docs: dict[str, str]):  # -> rag.Pipeline
    """A Pipeline on the fake embedder and extractive generator (free mode, no support check)
    over `docs` ingested into tmp_path/index from tmp_path/docs."""
    from rag import Pipeline
    from rag.fakes import ExtractiveGenerator

    p = Pipeline(engine="generator", index=tmp_path / "index", embedder=HashEmbedder(), generator=ExtractiveGenerator(),
                 mode="free", min_support=None)
    p.ingest(write_docs(tmp_path / "docs", docs), progress=False)
    return p


def free_port() -> int:
    """A TCP port free on loopback now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LOCAL = "http://127.0.0.1:8000"  # a Host the server answers (TestClient's own "testserver" is refused)


def local_client(app, **kwargs):  # -> TestClient
    """A TestClient that talks to `app` as a loopback client does."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url=kwargs.pop("base_url", LOCAL), **kwargs)


@contextlib.contextmanager
def serving(app):  # -> Iterator[str]
    """Run an ASGI app on a real uvicorn server on loopback in a thread; yields its base URL."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
