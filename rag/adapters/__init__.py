"""LoRA adapters: the ones shipped inside the package, found by name, and the JSON card that
`rag finetune` writes beside every adapter (how it was made, and its refusal threshold)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

PACKAGED = Path(__file__).resolve().parent
CARD_FILE = "card.json"


def packaged_adapters() -> list[str]:
    """Names of the adapters shipped with the package."""
    return sorted(p.name for p in PACKAGED.iterdir() if (p / "adapter_config.json").is_file())


def resolve_adapter(adapter: str | None) -> str | None:
    """A folder for the `generator.adapter` setting: a packaged adapter's name or a path.

    Raises:
        ConfigError: neither a packaged name nor an existing folder.
    """
    if adapter is None:
        return None
    packaged = PACKAGED / adapter
    if "/" not in adapter and (packaged / "adapter_config.json").is_file():
        return str(packaged)
    if Path(adapter).expanduser().is_dir():
        return str(Path(adapter).expanduser())
    raise ConfigError(f"generator.adapter = {adapter!r} is neither an adapter folder nor a packaged "
                      f"adapter (packaged: {', '.join(packaged_adapters()) or 'none'}; 'none' = no adapter)")


def read_card(adapter_dir: str | Path | None) -> dict[str, Any]:
    """The adapter's card, or {} when it has none (an adapter made elsewhere)."""
    if adapter_dir is None:
        return {}
    path = Path(adapter_dir) / CARD_FILE
    if not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: the adapter card is not valid JSON: {exc}") from None
    return dict(card) if isinstance(card, dict) else {}


def write_card(adapter_dir: str | Path, card: dict[str, Any]) -> Path:
    """Write (or replace) the adapter's card; returns its path."""
    path = Path(adapter_dir) / CARD_FILE
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    staging.replace(path)
    return path


def card_threshold(adapter_dir: str | Path | None, mode: str) -> float | None:
    """The refusal threshold fitted for this adapter in answer mode `mode`, if its card has one."""
    card = read_card(adapter_dir)
    value = (card.get("refusal_thresholds") or {}).get(mode, card.get("refusal_threshold"))
    return float(value) if isinstance(value, (int, float)) else None
