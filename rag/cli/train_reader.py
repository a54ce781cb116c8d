"""`rag train-reader`: train the extractive reader on SQuAD files and fit its no-answer
threshold on held-back articles. Registered with the `rag` command by rag.cli."""

from __future__ import annotations

import argparse
import shlex
import sys

from rag.cli.base import command


def _register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train-reader", help="train the extractive reader (span head on MiniLM)",
                       description="Read SQuAD questions against their paragraphs and against the chunks "
                       "the pipeline retrieves for them, train a span head with a no-answer score, fit "
                       "the no-answer threshold on held-back articles asked through retrieval.")
    p.add_argument("--data", action="append", required=True, metavar="FILE",
                   help="SQuAD 1.1 / 2.0 .json; repeat for several files")
    p.add_argument("--out", required=True, metavar="READER_DIR", help="reader folder to write")
    p.add_argument("--calibration-articles", default="", help="articles held out of training to fit "
                   "the no-answer threshold through retrieval (comma-separated)")
    p.add_argument("--calibration-questions", type=int, help="sample this many of their questions")
    p.add_argument("--max-refusal", type=float, default=0.30, help="the threshold may refuse at most this "
                   "share of answerable calibration questions (default %(default)s; 1 = maximise SQuAD 2.0 F1 alone)")
    p.add_argument("--exclude-articles", default="", help="articles left out of everything")
    p.add_argument("--limit", default="1000", help="training examples, a sampled mix (default %(default)s); "
                   "'all': every pool (each SQuAD question, the unanswerables twice, swaps, retrieval)")
    p.add_argument("--swaps", type=int, default=15000, help="swapped unanswerables in an --limit all run "
                   "(default %(default)s; 0 = none, in a sampled run too; needs localrag[train])")
    p.add_argument("--retrieval-articles", type=int, default=40, help="training articles indexed for "
                   "retrieved examples (default %(default)s; 0 = none)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=16, help="windows per forward pass (default %(default)s)")
    p.add_argument("--grad-accum", type=int, default=2, help="forward passes per step (default %(default)s)")
    p.add_argument("--max-length", type=int, default=192, help="tokens per window (default %(default)s)")
    p.add_argument("--stride", type=int, default=64, help="tokens shared by two windows (default %(default)s)")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0,
                   help="training minutes between checkpoints (default %(default)s)")
    p.add_argument("--save-every", type=int, help="also checkpoint every this many steps")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto", help="bf16 autocast or "
                   "fp32 (default auto: bf16 where the CPU reports avx512_bf16/amx_bf16 or CUDA runs it)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: CUDA when present")
    p.add_argument("--freeze-layers", type=int, default=0, help="keep the lowest N encoder layers as pretrained")
    p.add_argument("--curve-questions", type=int, default=300, help="held-back questions read at each "
                   "checkpoint for the learning curve (default %(default)s; 0 = none)")
    p.add_argument("--work", metavar="DIR", help="checkpoints and examples "
                   "(default ~/.cache/localrag/train/<READER_DIR's name>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoder", metavar="DIR", help="encoder folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (retrieval k, chunking)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in the work folder")
    p.add_argument("--calibrate", nargs="?", const="reader", choices=("reader", "generator"),
                   help="train nothing: fit the answer verifier of the reader in READER_DIR (or, with "
                   "'generator', of the configured generator's answers checked by that reader) on "
                   "--calibration-articles asked through retrieval, into its card")
    p.add_argument("--json", action="store_true", help="print the card as JSON")


@command(_register)
def cmd_train_reader(args: argparse.Namespace) -> int:
    import json

    from rag.answer.reader.windows import check_window
    from rag.config import load_config
    from rag.errors import InputError
    from rag.train_reader import ReaderRun, ReaderTrainSettings, train_reader
    from rag.train_reader.card import describe

    split = lambda text: tuple(t.strip() for t in text.split(",") if t.strip())  # noqa: E731
    limit = None if args.limit == "all" else int(args.limit) if args.limit.isdigit() else 0
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be an integer >= 1 or 'all'; got {args.limit!r}")
    check_window(args.max_length, args.stride)
    if not 0.0 <= args.max_refusal <= 1.0:
        raise InputError(f"--max-refusal must be between 0 and 1; got {args.max_refusal}")
    try:
        settings = ReaderTrainSettings(lr=args.lr, epochs=args.epochs, max_steps=args.max_steps,
                                       batch_size=args.batch_size, grad_accum=args.grad_accum,
                                       max_length=args.max_length, stride=args.stride, seed=args.seed,
                                       save_every=args.save_every, checkpoint_minutes=args.checkpoint_minutes,
                                       precision=args.precision, device=args.device,
                                       freeze_layers=args.freeze_layers)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    run = ReaderRun(data=tuple(args.data), out=args.out, calibration_articles=split(args.calibration_articles),
                    exclude_articles=split(args.exclude_articles), limit=limit, swaps=args.swaps,
                    curve_questions=args.curve_questions, work=args.work,
                    retrieval_articles=args.retrieval_articles, calibration_questions=args.calibration_questions,
                    max_refusal=args.max_refusal,
                    settings=settings, config=load_config(args.config), encoder=args.encoder,
                    resume=args.resume, command="rag " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                    progress=sys.stderr.isatty() or not args.json)
    if args.calibrate:
        from rag.train_reader.verifier import calibrate_verifier

        block = calibrate_verifier(run, args.calibrate)
        print(json.dumps(block, indent=2) if args.json else
              f"{args.calibrate} verifier fitted on {block['fit_questions']} questions of {', '.join(block['articles'])}: "
              f"threshold {block['threshold']}; on {block['report_questions']} held back: AUC {block['auc']} "
              f"({'gap' if args.calibrate == 'reader' else 'generator margin'} alone {block['gap_auc']}), ECE {block['ece']}, SQuAD 2.0 F1 {block['squad2_f1_at_threshold']} "
              f"({'gap' if args.calibrate == 'reader' else 'margin'} rule {block['squad2_f1_gap_rule']})")
        return 0
    card = train_reader(run)
    if args.json:
        print(json.dumps(card, indent=2, ensure_ascii=False))
    else:
        print(describe(card))
        print(f"reader written to {args.out}")
    return 0
