"""`rag export`: the generator with its LoRA adapter in the forms other engines serve: a merged
f16 GGUF for llama.cpp's `llama-server`, and the PEFT adapter folder (plus the base model's
Hugging Face folder) for vLLM's `--lora-modules`. Registered with the `rag` command by rag.cli."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rag.cli.base import command, print_json
from rag.errors import InputError


def _register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="write the generator + adapter for llama.cpp (merged GGUF) and vLLM (PEFT)",
                       description="Merge the configured LoRA adapter into the generator's GGUF (f16) for "
                       "llama-server, and copy the adapter folder for vLLM --lora-modules.")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (created)")
    p.add_argument("--adapter", metavar="NAME|DIR", help="adapter (default: the configured one; 'none': the base)")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: ./rag.toml if present)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@command(_register)
def cmd_export(args: argparse.Namespace) -> int:
    from rag.adapters import resolve_adapter
    from rag.config import load_config
    from rag.generator import resolve_generator_model
    from rag.generator.gguf_export import export_merged_gguf

    config = load_config(args.config)
    g = config.generator
    folder, gguf_file = resolve_generator_model(g.model, g.gguf_file)
    if gguf_file is None:
        raise InputError(f"generator.model {g.model!r} is a Hugging Face folder: serve it with vLLM as it is "
                         "(the export merges into GGUF files)")
    name = g.adapter if args.adapter is None else (None if args.adapter.lower() == "none" else args.adapter)
    adapter = resolve_adapter(name)
    out = Path(args.out)
    gguf = out / (f"{Path(gguf_file).stem}+{Path(adapter).name}-f16.gguf" if adapter else f"{Path(gguf_file).stem}-f16.gguf")
    print(f"rag export: merging {adapter or 'no adapter'} into {gguf_file} (f16, about 15 s)", file=sys.stderr)
    report = export_merged_gguf(folder / gguf_file, adapter, gguf)
    if adapter:
        shutil.copytree(adapter, out / "lora", dirs_exist_ok=True)
        report["lora"] = str(out / "lora")
    report["llama_server"] = f"llama-server -m {gguf} --port 8080 --no-repack"
    report["vllm"] = (f"vllm serve HF_BASE_FOLDER --enable-lora --lora-modules localrag={out / 'lora'}"
                      if adapter else None)
    if args.json:
        print_json(report)
    else:
        print(f"wrote {gguf} ({report['bytes'] / 1e6:.0f} MB, {report['merged']} of {report['tensors']} tensors "
              "with the adapter merged)")
        print(f"serve it: {report['llama_server']}")
        if adapter:
            print(f"vLLM: {report['vllm']} (HF_BASE_FOLDER: the base model as a Hugging Face folder)")
    return 0
