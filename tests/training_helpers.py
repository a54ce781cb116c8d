"""A tiny reader to train in tests (2 layers of 64, the real tokenizer), and, run as a script,
a training process for a test to kill: `python tests/training_helpers.py ENCODER WORK`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parent / "fixtures" / "tiny_squad.json"


def tiny_encoder(folder: Path) -> Path:
    """A randomly initialised 2-layer BERT with the packaged encoder's tokenizer, saved as an
    encoder folder (new_model reads it as it reads MiniLM)."""
    from transformers import BertConfig, BertModel

    from rag.answer.reader.folder import encoder_folder
    from rag.train_reader.train import seed_everything

    real = encoder_folder(None)
    seed_everything(0)
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=512)
    BertModel(config).save_pretrained(str(folder))
    shutil.copyfile(real / "tokenizer.json", folder / "tokenizer.json")
    return folder


def tiny_features(encoder: Path, n: int = 32) -> tuple[list[Any], int]:
    """Labelled windows of the first `n` questions of the sample against their paragraphs."""
    from rag.answer.reader.windows import ReaderTokenizer
    from rag.train_reader.examples import paragraph_examples, squad_questions
    from rag.train_reader.features import build_features

    tokenizer = ReaderTokenizer(encoder / "tokenizer.json")
    examples = paragraph_examples(squad_questions([SAMPLE])[:n])
    return build_features(examples, tokenizer, 128, 32), tokenizer.pad_id


def tiny_settings(**overrides: Any) -> Any:
    from rag.train_reader.train import ReaderTrainSettings

    values: dict[str, Any] = dict(max_length=128, stride=32, batch_size=4, grad_accum=1, epochs=40.0,
                                  lr=1e-3, warmup_ratio=0.05, precision="fp32", checkpoint_minutes=60.0)
    return ReaderTrainSettings(**{**values, **overrides})


def tiny_model(encoder: Path) -> Any:
    from rag.train_reader.train import new_model, seed_everything

    seed_everything(0)
    return new_model(encoder)


if __name__ == "__main__":  # the process a test kills: checkpoints every 3 steps, many steps
    from rag.train_reader.train import train

    encoder, work = Path(sys.argv[1]), Path(sys.argv[2])
    features, pad_id = tiny_features(encoder)
    train(tiny_model(encoder), features, pad_id, tiny_settings(save_every=3), work, resume=True, progress=False)
