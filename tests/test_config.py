"""Configuration: precedence, validation messages, TOML loading."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from rag.config import RagConfig, all_keys, apply_options, load_config
from rag.errors import ConfigError


def test_defaults() -> None:
    config = load_config(env={}, cwd=Path("/nonexistent"))
    assert config == RagConfig()
    assert (config.retrieval.k, config.index.path, config.chunking.chunk_size_tokens) == (4, "rag_index", 200)


def test_precedence_is_defaults_then_file_then_env_then_flags(tmp_path: Path) -> None:
    (tmp_path / "rag.toml").write_text('[index]\npath = "from_file"\n[retrieval]\nk = 6\n'
                                       '[generator]\nmax_new_tokens = 64\n')
    from_file = load_config(env={}, cwd=tmp_path)
    assert (from_file.index.path, from_file.retrieval.k, from_file.generator.max_new_tokens) == ("from_file", 6, 64)
    from_env = load_config(env={"RAG_INDEX": "from_env", "RAG_CHROMA_URL": "http://localhost:8000"}, cwd=tmp_path)
    assert from_env.index.path == "from_env" and from_env.index.chroma_url == "http://localhost:8000"
    from_flags = load_config(env={"RAG_INDEX": "from_env"}, cwd=tmp_path,
                             overrides={"index.path": "from_flag", "k": "8", "min_score": None})
    assert (from_flags.index.path, from_flags.retrieval.k, from_flags.retrieval.min_score) == ("from_flag", 8, None)


@pytest.mark.parametrize("key, value, message", [
    ("retrieval.k", 0, r"retrieval.k = 0 is invalid: expected an integer from 1 to 100"),
    ("k", "many", r"retrieval.k = 'many' is invalid: expected a value of type int"),
    ("chunking.chunk_overlap_tokens", 250, r"chunk_overlap_tokens \(250\) must be .* less than chunking.chunk_size_tokens \(200\)"),
    ("retrieval.min_score", 2.0, r"retrieval.min_score = 2.0 is invalid"),
    ("index.chroma_url", "localhost:8000", r"index.chroma_url = 'localhost:8000' is invalid: expected a URL"),
    ("generator.max_new_tokens", 1500, r"max_new_tokens \(1500\) must be less than half"),
    ("generator.merge_adapter", "maybe", r"generator.merge_adapter = 'maybe' is invalid: expected a value of type bool"),
    ("retrieval.top", 3, r"unknown configuration key 'retrieval.top'; section \[retrieval\] has k, min_score"),
    ("colour", 3, r"unknown configuration key 'colour'"),
])
def test_invalid_values_name_key_value_and_what_is_allowed(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_options(RagConfig(), {key: value})


def test_bad_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", env={})
    (tmp_path / "bad.toml").write_text("[retrieval\nk = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml", env={})
    (tmp_path / "flat.toml").write_text("k = 3")
    with pytest.raises(ConfigError, match=r"must be a \[section\] table"):
        load_config(tmp_path / "flat.toml", env={})


def test_readme_documents_every_key_in_a_valid_example(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    lines = {line.lstrip("# ").split(" =")[0] for line in example.splitlines() if " = " in line}
    missing = [key for key in all_keys() if key.split(".")[1] not in lines]
    assert not missing, f"README lacks {missing}"
    (tmp_path / "rag.toml").write_text(example)
    assert load_config(tmp_path / "rag.toml", env={}).generator.adapter == "squad2-grounded"


def test_the_packaged_adapter_is_the_default_and_none_means_the_base_model() -> None:
    from rag.adapters import packaged_adapters, resolve_adapter

    assert RagConfig().generator.adapter == "squad2-grounded" in packaged_adapters()
    assert resolve_adapter(RagConfig().generator.adapter).endswith("rag/adapters/squad2-grounded")
    assert apply_options(RagConfig(), {"adapter": "none"}).generator.adapter is None
    assert load_config(env={}, overrides={"adapter": ""}).generator.adapter is None


def test_the_adapter_is_merged_by_default_and_merging_nothing_is_quiet() -> None:
    assert RagConfig().generator.merge_adapter and RagConfig().generator.prefix_cache
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # merge_adapter = true (the default) with no adapter: nothing to say
        assert apply_options(RagConfig(), {"generator.adapter": "none"}).generator.adapter is None


def test_the_http_backend_names_its_endpoint() -> None:
    with pytest.raises(ConfigError, match="needs generator.endpoint"):
        apply_options(RagConfig(), {"generator.backend": "http"})
    served = apply_options(RagConfig(), {"generator.backend": "http", "generator.endpoint": "http://127.0.0.1:8080/v1"})
    assert served.generator.endpoint == "http://127.0.0.1:8080/v1"
