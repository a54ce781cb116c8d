"""The lexical (BM25) route's index: chunk texts and term postings in SQLite, BM25 in NumPy,
kept in step with the vector store.

Only this subpackage imports sqlite3.
"""

from rag.retrieval.lexical.base import STOPWORDS, LexicalIndex, query_words
from rag.retrieval.lexical.index import SqliteLexicalIndex
from rag.retrieval.lexical.sync import FollowingLexicalIndex, sync_lexical, sync_with_store

__all__ = ["STOPWORDS", "FollowingLexicalIndex", "LexicalIndex", "SqliteLexicalIndex", "query_words",
           "sync_lexical", "sync_with_store"]
