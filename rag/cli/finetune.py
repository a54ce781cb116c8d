"""`rag finetune`: train a LoRA adapter for short grounded answers and calibrated refusal.
Registered with the `rag` command by rag.cli."""

from __future__ import annotations

import argparse
import shlex
import sys

from rag.cli.base import chroma_option, command, config_from


def _register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("finetune", help="train a LoRA adapter (short spans, refusals, calibrated threshold)",
                       description="Build examples through the same retriever and prompt as `ask`, train "
                       "a LoRA adapter, fit its refusal threshold on held-back training questions.")
    p.add_argument("--data", action="append", required=True, metavar="FILE",
                   help="SQuAD 2.0 .json or JSONL; repeat for several files")
    p.add_argument("--out", required=True, metavar="ADAPTER_DIR", help="adapter folder to write")
    p.add_argument("--articles", default="", help="train on these articles only (comma-separated)")
    p.add_argument("--exclude-articles", default="", help="leave these articles out (held apart)")
    p.add_argument("--limit", type=int, default=200, help="training examples (default %(default)s)")
    p.add_argument("--calibration", type=int, default=100,
                   help="held-back questions for the refusal threshold (default %(default)s; 0 = none)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--r", type=int, default=8, help="LoRA rank (default %(default)s)")
    p.add_argument("--alpha", type=int, default=16, help="LoRA alpha (default %(default)s)")
    p.add_argument("--dropout", type=float, default=0.05, help="LoRA dropout (default %(default)s)")
    p.add_argument("--target-modules", default=",".join(_default_modules()),
                   help="projections that get LoRA weights (comma-separated)")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=2, help="examples per forward pass (default %(default)s)")
    p.add_argument("--grad-accum", type=int, default=4, help="forward passes per step (default %(default)s)")
    p.add_argument("--save-every", type=int, default=10, help="steps between checkpoints (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--index", metavar="PATH", help="an index of the training documents (default: built "
                   "from the split into ADAPTER_DIR/.work/index)")
    chroma_option(p)
    p.add_argument("--docs", metavar="DIR", help="documents of a JSONL dataset")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (k, template, refusal ...)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    p.add_argument("--qlora", action="store_true", help="QLoRA: the base frozen in 4-bit NF4 while training "
                   "(needs the qlora extra: bitsandbytes); the adapter serves like any other")
    p.add_argument("--max-refusal", type=float, default=0.25, help="the threshold may refuse at most this "
                   "share of answerable calibration questions, the model's own refusals included (default %(default)s)")
    p.add_argument("--recalibrate", action="store_true", help="only refit the refusal thresholds of the "
                   "adapter in ADAPTER_DIR (same data and split; no training)")
    p.add_argument("--json", action="store_true", help="print the card as JSON")


def _default_modules() -> tuple[str, ...]:
    from rag.finetune.train import DEFAULT_TARGET_MODULES

    return DEFAULT_TARGET_MODULES


@command(_register)
def cmd_finetune(args: argparse.Namespace) -> int:
    from rag.errors import InputError
    from rag.finetune import FinetuneRun, TrainSettings, finetune
    from rag.finetune.card import describe

    split = lambda text: tuple(t.strip() for t in text.split(",") if t.strip())  # noqa: E731
    if args.limit < 1:
        raise InputError(f"--limit must be >= 1; got {args.limit}")
    if not 0.0 <= args.max_refusal <= 1.0:
        raise InputError(f"--max-refusal must be between 0 and 1; got {args.max_refusal}")
    if args.qlora:
        from rag.finetune.qlora import import_bitsandbytes

        import_bitsandbytes()  # a missing extra is an error now, not after the examples are built
    try:
        settings = TrainSettings(r=args.r, alpha=args.alpha, dropout=args.dropout,
                                 target_modules=split(args.target_modules), lr=args.lr, epochs=args.epochs,
                                 max_steps=args.max_steps, batch_size=args.batch_size,
                                 grad_accum=args.grad_accum, seed=args.seed, save_every=args.save_every,
                                 qlora=args.qlora)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    run = FinetuneRun(data=tuple(args.data), out=args.out, articles=split(args.articles),
                      exclude_articles=split(args.exclude_articles), limit=args.limit,
                      calibration=args.calibration, docs=args.docs, index=args.index, resume=args.resume,
                      settings=settings, config=config_from(args),
                      max_refusal=args.max_refusal,
                      recalibrate=args.recalibrate,
                      command="rag " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                      progress=sys.stderr.isatty())
    card = finetune(run)
    if args.json:
        import json

        print(json.dumps(card, indent=2, ensure_ascii=False))
    else:
        print(describe(card))
        print(f"adapter written to {args.out}")
    return 0
