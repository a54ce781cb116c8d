"""Training speed of the reader (MiniLM-L6 + span head) on this machine: windows per second of
AdamW steps on batches of 16 synthetic windows, per variant (tokens, precision, frozen layers).
bf16 is autocast, as `rag train-reader` uses it; on a CPU without avx512_bf16/amx_bf16 it is
emulated (what `--precision auto` avoids).

    .venv/bin/python bench/train_speed.py [--steps 4] [--variants 192:fp32:0,192:bf16:0,256:fp32:0,192:fp32:2]
"""

from __future__ import annotations

import argparse
import time

import torch

from rag.answer.reader.folder import encoder_folder
from rag.train_reader.hardware import cpu_has_bf16
from rag.train_reader.train import new_model


def windows_per_s(tokens: int, precision: str, frozen: int, steps: int) -> float:
    model = new_model(encoder_folder(None), frozen)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(1000, 20000, (16, tokens))
    zeros = torch.zeros(16, dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids),
             "start_positions": zeros, "end_positions": zeros}

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return 16 * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--variants", default="192:fp32:0,192:bf16:0,256:fp32:0,192:fp32:2")
    args = parser.parse_args()
    print(f"CPU reports native bf16: {cpu_has_bf16()}; torch threads {torch.get_num_threads()}")
    print("| tokens | precision | frozen layers | windows/s |\n|---|---|---|---|")
    for variant in args.variants.split(","):
        tokens, precision, frozen = variant.split(":")
        rate = windows_per_s(int(tokens), precision, int(frozen), args.steps)
        print(f"| {tokens} | {precision} | {frozen} | {rate:.1f} |")


if __name__ == "__main__":
    main()
