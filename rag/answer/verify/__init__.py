"""The answer verifier: features of one reading (rag.answer.verify.features), a logistic
regression over them whose weights live in the reader's card (rag.answer.verify.model), and the
figures that judge a confidence (rag.answer.verify.calibration)."""

from rag.answer.verify.features import FEATURES, Reading, verification_features
from rag.answer.verify.model import Verifier, VerifierCardError

__all__ = ["FEATURES", "Reading", "Verifier", "VerifierCardError", "verification_features"]
