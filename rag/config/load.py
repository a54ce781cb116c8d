"""One configuration tree: defaults < rag.toml < environment < explicit overrides (CLI flags).

The sections (frozen dataclasses that validate themselves) live in rag.config.sections (the
retrieval section in rag.retrieval.settings, beside the registry it validates against); this
module loads, merges and overrides them.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomllib

from rag.config.sections import RagConfig
from rag.errors import ConfigError, invalid_setting

CONFIG_FILE_NAME = "rag.toml"
# Environment variables a deployment needs; each maps to one dotted key.
ENV_VARS = {"RAG_INDEX": "index.path", "RAG_CHROMA_URL": "index.chroma_url",
            "RAG_EMBEDDING_ENDPOINT": "embedding.endpoint"}

# Short names accepted by `set_option` (eval variants such as `k=8`, `adapter=PATH`).
ALIASES = {"k": "retrieval.k", "min_score": "retrieval.min_score",
           "adapter": "generator.adapter", "max_new_tokens": "generator.max_new_tokens",
           "index": "index.path", "model": "generator.model", "min_support": "answer.min_support",
           "mode": "answer.mode", "refusal_threshold": "answer.refusal_threshold",
           "votes": "answer.votes", "retrieval": "retrieval.mode", "mmr": "retrieval.mmr",
           "candidates": "retrieval.candidates", "engine": "answer.engine", "reader": "answer.reader"}

SECTIONS: dict[str, type] = {f.name: typing.get_type_hints(RagConfig)[f.name]
                             for f in dataclasses.fields(RagConfig)}


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Convert `value` (from TOML, env or a CLI string) to the field's type."""
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if value is None or (optional and isinstance(value, str) and value.lower() in ("", "none")):
        if optional:
            return None
        raise invalid_setting(key, value, f"a value of type {base.__name__}")
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError
        if base is int and isinstance(value, float):
            raise ValueError
        if base in (int, float) and isinstance(value, bool):
            raise ValueError
        return base(value)
    except (TypeError, ValueError):
        raise invalid_setting(key, value, f"a value of type {base.__name__}") from None


def set_option(config: RagConfig, key: str, value: Any) -> RagConfig:
    """Return a copy of `config` with one dotted key (or alias such as `k`) set."""
    return apply_options(config, {key: value})


def apply_options(config: RagConfig, options: Mapping[str, Any]) -> RagConfig:
    """Return a copy of `config` with dotted keys set; unknown keys are an error."""
    grouped: dict[str, dict[str, Any]] = {}
    for raw_key, value in options.items():
        key = ALIASES.get(raw_key, raw_key)
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name:
            raise ConfigError(f"unknown configuration key {raw_key!r}; expected one of "
                              f"{', '.join(sorted(all_keys()))} or {', '.join(sorted(ALIASES))}")
        hints = typing.get_type_hints(SECTIONS[section])
        if name not in hints:
            raise ConfigError(f"unknown configuration key {key!r}; section [{section}] has "
                              f"{', '.join(hints)}")
        grouped.setdefault(section, {})[name] = _coerce(key, value, hints[name])
    updated = {s: dataclasses.replace(getattr(config, s), **kv) for s, kv in grouped.items()}
    return dataclasses.replace(config, **updated)


def all_keys() -> list[str]:
    """Every dotted key the configuration accepts."""
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def _flatten_toml(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: top-level key {section!r} must be a [section] table")
        for name, value in body.items():
            flat[f"{section}.{name}"] = value
    return flat


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None, cwd: Path | None = None) -> RagConfig:
    """Build the configuration: defaults < rag.toml < environment < `overrides`.

    Args:
        path: a TOML file; None looks for rag.toml in `cwd` (the working directory).
        env: environment mapping (defaults to os.environ); see ENV_VARS.
        overrides: dotted keys (or aliases) to set last, e.g. from CLI flags. None values are skipped.

    Returns:
        The validated RagConfig.

    Raises:
        ConfigError: a missing or malformed file, an unknown key or an invalid value.
    """
    config = RagConfig()
    if path is None:
        candidate = (cwd or Path.cwd()) / CONFIG_FILE_NAME
        path = candidate if candidate.is_file() else None
    elif not Path(path).is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        config = apply_options(config, _flatten_toml(data, Path(path)))
    env = os.environ if env is None else env
    from_env = {key: env[var] for var, key in ENV_VARS.items() if env.get(var)}
    config = apply_options(config, from_env)
    return apply_options(config, {k: v for k, v in (overrides or {}).items() if v is not None})
