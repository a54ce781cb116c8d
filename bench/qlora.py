"""LoRA against QLoRA on the same examples and steps: the model's weight memory, the whole
process's peak RSS, seconds per optimizer step, held-back SQuAD 2.0 F1 of both adapters, and how
much merging the QLoRA adapter into the f16 base (what `rag export` writes) changes its answers.

    .venv/bin/python bench/qlora.py [--examples 20] [--steps 30] [--held-back 100] [--merge-questions 200]

Examples (answerable and unanswerable, target the answer or the refusal sentence) come from the
first articles of --data, held-back questions from its last two; each question is asked over its
own paragraph in the prompt `rag ask` builds. Each adapter is scored where `ask` serves it: on the
full-precision base. The merge check asks the first --merge-questions of --dev (SQuAD 2.0 dev,
evaluated only) with the QLoRA adapter on the 4-bit base it was trained on, unmerged on the
full-precision base, and merged into the base stored in float16. Each method trains in a fresh
process, so peaks do not mix. QLoRA's base computes in float32 on a CPU (faster there without
avx512_bf16).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "data" / "squad2"


def prompts(items, tokenizer_count, config) -> list[tuple[list[dict[str, str]], list[str]]]:
    """(messages as `ask` builds them over the gold paragraph, gold answers; [] = unanswerable)."""
    from rag.answer.prompt import build_prompt, load_template
    from rag.eval.run import gold_hit

    out = []
    for i in items:
        prompt = build_prompt(i.question, [gold_hit(i)], template=load_template(config.prompt.template),
                              refusal=config.prompt.refusal, count_tokens=tokenizer_count,
                              budget=config.generator.context_window - config.generator.max_new_tokens)
        out.append((list(prompt.messages), list(i.answers) if i.answerable else []))
    return out


def squad2_f1(generator, model, asked, refusal: str) -> tuple[float, list[str]]:
    """Mean SQuAD 2.0 F1 of greedy answers (the refusal sentence is no answer), and the answers."""
    from rag.answer.match import f1_score
    from rag.answer.prompt import is_refusal

    generator.model, answers, total = model, [], 0.0
    for messages, golds in asked:
        text = generator.generate(messages, 24).text.strip()
        answers.append(text)
        empty = is_refusal(text, refusal)
        total += (1.0 if empty else 0.0) if not golds else (0.0 if empty else f1_score(text, golds))
    return total / max(1, len(asked)), answers


def split(data: str, examples: int, held_back: int, seed: int = 0):
    from rag.datasets import load_squad

    items = load_squad(data).items
    articles = sorted({i.article for i in items})
    train = [i for i in items if i.article not in articles[-2:]]
    rest = [i for i in items if i.article in articles[-2:]]
    random.Random(seed).shuffle(train)
    random.Random(seed + 1).shuffle(rest)
    return train[:examples], rest[:held_back]


def child(args: argparse.Namespace) -> dict:
    """Train one method, save its adapter in args.out, score it on the held-back questions."""
    import torch

    from rag.config import RagConfig
    from rag.finetune.examples import Example
    from rag.finetune.train import Trainer, TrainSettings, lora_model, tokenize
    from rag.generator import TransformersGenerator
    from rag.generator.model_files import attach_adapter

    qlora, config = args.child == "qlora", RagConfig()
    generator = TransformersGenerator()
    train, held = split(args.data, args.examples, args.held_back)
    examples = [Example(i.id, "span", tuple(m), golds[0] if golds else config.prompt.refusal)
                for i, (m, golds) in zip(train, prompts(train, generator.count_prompt_tokens, config))]
    settings = TrainSettings(r=8, alpha=16, batch_size=2, grad_accum=1, max_steps=args.steps,
                             save_every=10**6, qlora=qlora, epochs=10**3)
    full = generator.model
    if qlora:
        from rag.finetune.qlora import quantized_base

        base = quantized_base(generator.model_folder)
    else:
        base = full
    weights_mb = base.get_memory_footprint() / 1e6
    model = lora_model(base, settings)
    rows = [tokenize(e, generator.tokenizer) for e in examples]
    trainer = Trainer(model, rows, settings, Path(tempfile.mkdtemp()), generator.tokenizer.eos_token_id)
    started = time.perf_counter()
    result = trainer.train(progress=False)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model.save_pretrained(args.out)
    served = model if not qlora else attach_adapter(full, args.out, False, config.generator.model)
    with torch.no_grad():
        f1, _ = squad2_f1(generator, served.eval(), prompts(held, generator.count_prompt_tokens, config),
                          config.prompt.refusal)
    return {"method": args.child, "weights_mb": round(weights_mb, 1), "peak_rss_mb": round(peak, 1),
            "steps": result.steps, "s_per_step": round(seconds / result.steps, 2),
            "first_loss": result.first_loss, "final_loss": result.final_loss,
            "held_back_f1": round(f1, 4), "held_back": len(held)}


def merge_check(args: argparse.Namespace) -> dict:
    """The QLoRA adapter on its 4-bit base against merged into the float16 base."""
    import torch
    from transformers import AutoModelForCausalLM

    from rag.config import RagConfig
    from rag.datasets import load_squad
    from rag.finetune.qlora import quantized_base
    from rag.generator import TransformersGenerator
    from rag.generator.model_files import attach_adapter

    config, generator = RagConfig(), TransformersGenerator()
    asked = prompts(load_squad(args.dev).items[:args.merge_questions], generator.count_prompt_tokens, config)
    with torch.no_grad():
        trained = attach_adapter(quantized_base(generator.model_folder), args.out, False, config.generator.model)
        f1_4bit, on_4bit = squad2_f1(generator, trained.eval(), asked, config.prompt.refusal)
        del trained
        base = AutoModelForCausalLM.from_pretrained(str(generator.model_folder), dtype=torch.float32)
        f1_full, on_full = squad2_f1(generator, attach_adapter(base, args.out, False, config.generator.model).eval(),
                                     asked, config.prompt.refusal)
        base = AutoModelForCausalLM.from_pretrained(str(generator.model_folder), dtype=torch.float32)
        merged = attach_adapter(base, args.out, True, config.generator.model).to(torch.float16).float().eval()
        f1_merged, on_merged = squad2_f1(generator, merged, asked, config.prompt.refusal)
    changed = lambda ours: sum(a != b for a, b in zip(ours, on_merged))  # noqa: E731
    return {"questions": len(asked), "changed_from_4bit": changed(on_4bit), "changed_from_full": changed(on_full),
            "f1_on_4bit_base": round(f1_4bit, 4), "f1_on_full_base": round(f1_full, 4),
            "f1_merged_f16": round(f1_merged, 4)}


def run_child(argv: list[str]) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{argv[:2]} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SQUAD / "train10.json"))
    parser.add_argument("--dev", default=str(SQUAD / "dev10.json"))
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--held-back", type=int, default=100)
    parser.add_argument("--merge-questions", type=int, default=200)
    parser.add_argument("--child", choices=("lora", "qlora", "merge"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(merge_check(args) if args.child == "merge" else child(args)))
        return
    common = ["--data", args.data, "--dev", args.dev, "--examples", str(args.examples), "--steps", str(args.steps),
              "--held-back", str(args.held_back), "--merge-questions", str(args.merge_questions)]
    with tempfile.TemporaryDirectory() as work:
        runs = {m: run_child(["--child", m, "--out", f"{work}/{m}", *common]) for m in ("lora", "qlora")}
        merge = run_child(["--child", "merge", "--out", f"{work}/qlora", *common]) if args.merge_questions else None
    ratio = runs["qlora"]["weights_mb"] / runs["lora"]["weights_mb"]
    print(json.dumps({"bench": "qlora", "machine": f"{os.cpu_count()} cores", "examples": args.examples,
                      "runs": runs, "weights_ratio": round(ratio, 3), "merge": merge}))
    for method, r in runs.items():
        print(f"  {method:5s} weights {r['weights_mb']:7.1f} MB  peak RSS {r['peak_rss_mb']:7.1f} MB  "
              f"{r['s_per_step']:6.2f} s/step  loss {r['first_loss']:.3f} -> {r['final_loss']:.3f}  "
              f"held-back F1 {r['held_back_f1']:.3f} ({r['held_back']} questions)")
    gap = 100 * (runs["lora"]["held_back_f1"] - runs["qlora"]["held_back_f1"])
    print(f"  QLoRA's weights are {ratio:.2f}x LoRA's (target <= 0.35); its held-back F1 is {gap:+.1f} points "
          "behind LoRA's (target: within 2)")
    if merge:
        print(f"  QLoRA adapter merged into the f16 base (rag export), of {merge['questions']} dev answers "
              f"{merge['changed_from_4bit']} differ from those on its 4-bit training base and "
              f"{merge['changed_from_full']} from those unmerged on the full base; SQuAD 2.0 F1 "
              f"{merge['f1_on_4bit_base']:.3f} 4-bit, {merge['f1_on_full_base']:.3f} full, "
              f"{merge['f1_merged_f16']:.3f} merged f16")


if __name__ == "__main__":
    main()
