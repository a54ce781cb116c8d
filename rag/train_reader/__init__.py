"""Training the extractive reader (`rag train-reader`): examples, windows, loop, calibration, card.
Only this package imports torch and transformers for the reader (its ONNX export aside)."""

from rag.train_reader.run import ReaderRun, train_reader
from rag.train_reader.train import ReaderTrainSettings

__all__ = ["ReaderRun", "ReaderTrainSettings", "train_reader"]
