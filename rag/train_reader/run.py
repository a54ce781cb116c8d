"""`rag train-reader` from end to end: split, examples (own paragraphs and the pipeline's own
retrieval), windows, training, the reader folder, calibration of the no-answer threshold on
held-back articles asked through retrieval, and the card.

    from rag.train_reader import ReaderRun, train_reader
    card = train_reader(ReaderRun(data=("train-squad1.1.json", "dev19.json"), out="readers/mine"))
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.config import RagConfig
from rag.errors import InputError
from rag.train_reader.examples import (
    PARAGRAPH,
    RETRIEVED_NULL,
    RETRIEVED_SPAN,
    SWAP,
    UNANSWERABLE,
    ReadingExample,
    from_rows,
    kind_counts,
    mix,
    paragraph_examples,
    squad_questions,
    to_rows,
)
from rag.train_reader.train import ReaderTrainSettings

log = logging.getLogger(__name__)
# The mix of a sampled run (shares of `limit`): reading own paragraphs most; SQuAD 2.0's
# adversarial unanswerables, swapped ones and retrieval's distractors for the null; gold chunks
# as retrieval shows them.
DEFAULT_SHARES = {PARAGRAPH: 0.55, UNANSWERABLE: 0.08, SWAP: 0.1, RETRIEVED_SPAN: 0.1, RETRIEVED_NULL: 0.17}
# The mix of a whole-pool run (`limit` None): each pool this many times over. Every SQuAD
# question once; the scarce human unanswerables twice; a third of retrieval's distractors
# (there are 4 a question, mostly easy).
DEFAULT_REPEATS = {PARAGRAPH: 1.0, UNANSWERABLE: 2.0, SWAP: 1.0, RETRIEVED_SPAN: 1.0, RETRIEVED_NULL: 0.35}
DEFAULT_SWAPS = 15000


@dataclass(frozen=True)
class ReaderRun:
    """What to train on and where to write it.

    Attributes:
        data: SQuAD 1.1 / 2.0 JSON files.
        out: the reader folder written.
        work: examples, the retrieval index, checkpoints and the latest weights (never
            shipped); default ~/.cache/localrag/train/<out's name>.
        calibration_articles: articles held out of training, asked through retrieval to fit the
            no-answer threshold (none: no threshold is fitted; 0.0 is used); max_refusal: the
            share of their answerable questions the threshold may refuse at most.
        exclude_articles: articles left out of everything (kept for measurement).
        limit: training examples (the mix of `shares`); None: every pool, `repeats` times
            over. retrieval_articles: articles of the training pool indexed for retrieved
            examples (the SQuAD 2.0 ones first). swaps: swapped unanswerables to make in a
            whole-pool run (a sampled run makes its share of `limit`).
        curve_questions: held-back (calibration) questions read at each checkpoint.
        encoder: the encoder folder (default: the packaged all-MiniLM-L6-v2).
    """

    data: tuple[str, ...]
    out: str
    calibration_articles: tuple[str, ...] = ()
    exclude_articles: tuple[str, ...] = ()
    limit: int | None = 1000
    retrieval_articles: int = 40
    swaps: int = DEFAULT_SWAPS
    repeats: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_REPEATS))
    curve_questions: int = 300
    work: str | None = None
    calibration_questions: int | None = None
    max_refusal: float = 0.30  # the threshold may refuse at most this share of answerable questions
    shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))
    settings: ReaderTrainSettings = field(default_factory=ReaderTrainSettings)
    config: RagConfig = field(default_factory=RagConfig)
    encoder: str | None = None
    resume: bool = False
    command: str = ""
    progress: bool = True

    def work_dir(self) -> Path:
        """Where checkpoints and examples live: `work`, or ~/.cache/localrag/train/<out's name>."""
        if self.work:
            return Path(self.work).expanduser()
        return Path.home() / ".cache" / "localrag" / "train" / Path(self.out).resolve().name


def split_questions(run: ReaderRun) -> tuple[list[Any], list[Any], dict[str, dict[str, Any]]]:
    """(training questions, calibration questions, every article by title).

    Raises:
        InputError: no data, an article name that is in no file, or nothing left to train on.
    """
    from rag.datasets import load_squad_json

    if not run.data:
        raise InputError("train-reader needs at least one --data SQuAD file")
    questions = squad_questions(run.data)
    articles: dict[str, dict[str, Any]] = {}
    for path in run.data:
        for article in load_squad_json(path):
            articles.setdefault(article["title"], article)
    for name in (*run.calibration_articles, *run.exclude_articles):
        if name not in articles:
            raise InputError(f"article {name!r} is in no --data file")
    held = set(run.calibration_articles) | set(run.exclude_articles)
    train = [q for q in questions if q.article not in held]
    calibration = [q for q in questions if q.article in run.calibration_articles]
    if not train:
        raise InputError("no training questions left after the article filters")
    return train, calibration, articles


def curve_sample(run: ReaderRun, calibration: list[Any]) -> list[Any]:
    """The held-back questions the learning curve reads (a seeded sample)."""
    n = min(len(calibration), run.curve_questions)
    return random.Random(run.settings.seed + 3).sample(calibration, n)


def retrieval_pool(run: ReaderRun, train: list[Any]) -> list[str]:
    """The training articles indexed for retrieved examples: those holding unanswerable
    questions first (their distractors are the hardest), then others in file order."""
    with_null = list(dict.fromkeys(q.article for q in train if not q.answers))
    rest = [a for a in dict.fromkeys(q.article for q in train) if a not in with_null]
    return (with_null + rest)[:run.retrieval_articles]


def build_examples(run: ReaderRun, train: list[Any], articles: dict[str, Any], work: Path) -> list[ReadingExample]:
    """The training mix, kept in `work/examples.jsonl` so a resumed run trains on the same."""
    from rag.train_reader.retrieved import retrieve_chunks

    path = work / "examples.jsonl"
    if run.resume and path.is_file():
        return from_rows([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()])
    pools: dict[str, list[ReadingExample]] = {}
    for e in paragraph_examples(train):
        pools.setdefault(e.kind, []).append(e)
    chosen = retrieval_pool(run, train)
    if chosen and run.retrieval_articles:
        wanted = [q for q in train if q.article in set(chosen)]
        for e in retrieve_chunks(run.config, [articles[a] for a in chosen], wanted, work, run.progress):
            pools.setdefault(e.kind, []).append(e)
    pools[SWAP] = swapped(run, train)
    if run.limit is None:
        counts = {kind: round(len(pools.get(kind, [])) * times) for kind, times in run.repeats.items()}
    else:
        counts = {kind: round(run.limit * share) for kind, share in run.shares.items()}
    examples = mix(pools, counts, run.settings.seed)
    if not examples:
        raise InputError("no training examples could be built from the data")
    (work / "pools.json").write_text(json.dumps({k: len(v) for k, v in pools.items()}), encoding="utf-8")
    staging = path.with_suffix(".tmp")  # a run killed while writing builds them again
    staging.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in to_rows(examples)),
                       encoding="utf-8")
    staging.replace(path)
    return examples


def swapped(run: ReaderRun, train: list[Any]) -> list[ReadingExample]:
    """The swapped unanswerables of the run (none where it asks for none)."""
    wanted = run.swaps if run.limit is None else round(run.limit * run.shares.get(SWAP, 0.0))
    if not wanted or not run.swaps:  # swaps = 0 turns them off in a sampled run too
        return []
    from rag.train_reader.swaps import make_swaps
    from rag.train_reader.tagger import SpacyTagger

    # Roughly two questions in five allow a swap; tag a seeded sample, not the whole pool.
    source = random.Random(run.settings.seed + 2).sample(train, min(len(train), max(wanted * 3, 2000)))
    return make_swaps(source, SpacyTagger(), run.settings.seed, limit=wanted)


def train_reader(run: ReaderRun) -> dict[str, Any]:
    """Examples, training, the reader folder, calibration, the card.

    Returns:
        The card (also `run.out/card.json`).
    """
    from rag.answer.reader.folder import encoder_folder
    from rag.answer.reader.windows import ReaderTokenizer
    from rag.train_reader.curve import curve_hook
    from rag.train_reader.features import build_features
    from rag.train_reader.save import save_reader
    from rag.train_reader.train import new_model, seed_everything, train

    started = time.perf_counter()
    out = Path(run.out)
    work = run.work_dir()
    random.seed(run.settings.seed)
    # 1. The split and the examples (own paragraphs; chunks the pipeline retrieves).
    train_q, calibration_q, articles = split_questions(run)  # bad data: nothing written anywhere
    work.mkdir(parents=True, exist_ok=True)
    examples = build_examples(run, train_q, articles, work)
    log.warning("reader examples: %s", kind_counts(examples))
    # 2. Windows as at inference, and training (resumable).
    encoder = encoder_folder(run.encoder)
    tokenizer = ReaderTokenizer(encoder / "tokenizer.json")
    features = build_features(examples, tokenizer, run.settings.max_length, run.settings.stride, run.progress)
    seed_everything(run.settings.seed)
    model = new_model(encoder, run.settings.freeze_layers)
    hook = curve_hook(curve_sample(run, calibration_q), encoder, run.settings, work) \
        if calibration_q and run.curve_questions else None
    result = train(model, features, tokenizer.pad_id, run.settings, work, run.resume, run.progress,
                   on_checkpoint=hook)
    # 3. The reader folder (fp16 weights, config, tokenizer), then its threshold.
    save_reader(model, encoder, out, run.settings)
    from rag.train_reader.calibrate import calibrate_reader
    from rag.train_reader.card import make_card, write_card

    calibration = calibrate_reader(run, out, calibration_q, articles, work)
    card = make_card(run, kind_counts(examples), len(features), result, calibration,
                     time.perf_counter() - started, json.loads((work / "pools.json").read_text())
                     if (work / "pools.json").is_file() else {})
    write_card(out, card)
    return card
