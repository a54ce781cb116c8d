"""The query chain: question -> hits -> gates -> answerer -> checks (-> vote) -> Answer (chain),
its settings (settings) and its streamed answers (stream)."""

from rag.answer.generative import PROMPT_MARGIN_TOKENS
from rag.answer.voting import in_retrieval_order
from rag.chain.chain import EMPTY_INDEX, NO_MATCH, RagChain
from rag.chain.settings import ChainSettings
from rag.chain.stream import AnswerStream

__all__ = ["EMPTY_INDEX", "NO_MATCH", "PROMPT_MARGIN_TOKENS", "AnswerStream", "ChainSettings", "RagChain",
           "in_retrieval_order"]
