"""The plain values that travel between stages. Everyone imports them from here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Page:
    """Text of one loaded unit of a document.

    Attributes:
        source: path relative to the ingested root, with forward slashes.
        page: 1-based page number for paginated formats (PDF), None otherwise.
        text: extracted text.
        kind: the loader that produced it ("txt", "md", "pdf", "html", ...).
        title: the document's title where its loader finds one (a PDF's running header), else "".
        section: the section the whole page belongs to (a slide's title, a sheet), else "".
        headings: its text marks sections with Markdown headings (Markdown, HTML, Word), which
            the chunker turns into each chunk's section (under `section`, when both are set).
        ocr: its text was read from an image by OCR (worth a second look).
    """

    source: str
    page: int | None
    text: str
    kind: str = "txt"
    title: str = ""
    section: str = ""
    headings: bool = False
    ocr: bool = False


@dataclass(frozen=True)
class Chunk:
    """A piece of a page small enough for the embedding model.

    Attributes:
        id: stable id derived from source, page and position.
        text: the chunk text.
        source: path relative to the ingested root.
        page: 1-based page or None.
        position: index of the chunk within its page.
        content_hash: sha256 prefix of the text.
        section: Markdown heading path ("Title > Part"), or "" when none.
        title: the document's title (a PDF's running header), or "" when none.
        ocr: its text came from OCR.
    """

    id: str
    text: str
    source: str
    page: int | None
    position: int
    content_hash: str
    section: str = ""
    title: str = ""
    ocr: bool = False


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk and its retrieval score, higher is closer: the route's own score (a
    cosine for the dense route, BM25 for the lexical one), a cosine again once fused routes are
    reranked against the question's vector."""

    chunk: Chunk
    score: float


@dataclass(frozen=True)
class Source:
    """A retrieved chunk as reported to the user."""

    source: str
    page: int | None
    chunk_id: str
    score: float
    snippet: str
    section: str = ""  # the chunk's Markdown heading path, "" when none
    ocr: bool = False  # its text came from OCR

    def to_dict(self) -> dict[str, object]:
        shown: dict[str, object] = {"source": self.source, "page": self.page, "section": self.section,
                                    "chunk_id": self.chunk_id, "score": round(self.score, 4), "snippet": self.snippet}
        return {**shown, "ocr": True} if self.ocr else shown


@dataclass(frozen=True, kw_only=True)
class Timings:
    """Seconds spent in each stage of one question, plus generation counters (by keyword only:
    eight numbers in a row are too easy to misplace)."""

    embed_query: float = 0.0
    retrieve: float = 0.0
    generate: float = 0.0
    total: float = 0.0
    tokens_generated: int = 0
    time_to_first_token: float | None = None
    prompt_tokens: int = 0
    check_support: float = 0.0

    def to_dict(self) -> dict[str, float | int | None]:
        return {"embed_query": self.embed_query, "retrieve": self.retrieve,
                "generate": self.generate, "check_support": self.check_support, "total": self.total,
                "tokens_generated": self.tokens_generated,
                "time_to_first_token": self.time_to_first_token,
                "prompt_tokens": self.prompt_tokens}


@dataclass(frozen=True)
class Span:
    """Where an answer lies verbatim in one of its sources.

    Attributes:
        block: 1-based number of the source (its [n] in the prompt and in `Answer.sources`).
        chunk_id: that chunk's id.
        start, end: character offsets of the answer in the chunk's text.
        sentence: the chunk's sentence holding the answer; `sentence_start` is the answer's
            offset in it, so a caller can mark it.
    """

    block: int
    chunk_id: str
    start: int
    end: int
    sentence: str
    sentence_start: int

    def to_dict(self) -> dict[str, object]:
        return {"block": self.block, "chunk_id": self.chunk_id, "start": self.start, "end": self.end,
                "sentence": self.sentence, "sentence_start": self.sentence_start}

    def marked(self, left: str = "«", right: str = "»") -> str:
        """The sentence with the answer between `left` and `right`."""
        a, b = self.sentence_start, self.sentence_start + (self.end - self.start)
        return self.sentence[:a] + left + self.sentence[a:b] + right + self.sentence[b:]


@dataclass(frozen=True)
class Answer:
    """What `ask` returns: the text, whether it is a refusal, its sources and timings.

    `reason` says why the chain refused on its own ("empty index", "no match", "min_score",
    "refusal_threshold", "no_answer", "unsupported"), else "". `support` is the answer's groundedness against
    its sources when checked. `margin` is the model's own preference for its answer over the
    refusal: log P(answer) - log P(refusal), None when the backend cannot score it. An answer
    withdrawn by a check keeps the generated text in `draft`. `span` locates the answer
    verbatim in a source (always in extractive mode; in free mode when the text occurs as is).
    `engine` is the chain's answerer ("reader" or "generator"). With answer voting, `votes` is the split ((normalised answer or "<refusal>", count), most
    first) and `drafts` holds every draft's text; `reason` is "no majority" when none won.
    """

    text: str
    refused: bool
    _: KW_ONLY
    sources: tuple[Source, ...] = ()
    cited: tuple[int, ...] = ()
    timings: Timings = field(default_factory=Timings)
    reason: str = ""
    support: float | None = None
    draft: str = ""
    margin: float | None = None
    span: Span | None = None
    votes: tuple[tuple[str, int], ...] = ()
    drafts: tuple[str, ...] = ()
    engine: str = ""
    confidence: float | None = None  # the verifier's P(right), when the reader's card has one

    def to_dict(self) -> dict[str, object]:
        return {"answer": self.text, "refused": self.refused,
                "sources": [s.to_dict() for s in self.sources], "cited": list(self.cited),
                "timings": self.timings.to_dict(), "reason": self.reason, "support": self.support,
                "draft": self.draft, "margin": self.margin,
                "span": self.span.to_dict() if self.span else None,
                "votes": dict(self.votes), "drafts": list(self.drafts), "engine": self.engine,
                "confidence": self.confidence}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Answer:
        """The Answer of a `to_dict()` object (e.g. from `rag serve`)."""
        span = d.get("span")
        return cls(str(d["answer"]), bool(d["refused"]),
                   sources=tuple(Source(s["source"], s["page"], s["chunk_id"], float(s["score"]), s["snippet"],
                                        s.get("section", ""), bool(s.get("ocr", False))) for s in d.get("sources", [])),
                   cited=tuple(d.get("cited", [])), timings=Timings(**d.get("timings", {})),
                   reason=d.get("reason", ""), support=d.get("support"), draft=d.get("draft", ""),
                   margin=d.get("margin"), span=Span(**span) if span else None,
                   votes=tuple((d.get("votes") or {}).items()), drafts=tuple(d.get("drafts", [])),
                   engine=str(d.get("engine", "")), confidence=d.get("confidence"))


@dataclass(frozen=True)
class ManifestEntry:
    """What the index knows of one ingested file.

    `status` is "pending" while its chunks are being written (an intent record, so a run
    killed half-way is repaired by the next one) and "complete" once the store write succeeded.
    `extractor` is how a PDF's text was read (rag.ingest.pdf.extractor_signature; "" for other
    documents and for PDFs of an index from before it was recorded): another one re-reads it.
    """

    source: str
    file_hash: str
    chunk_ids: tuple[str, ...]
    chunker: str
    ingested_at: str
    status: str = "complete"
    extractor: str = ""


@dataclass(frozen=True)
class ResolvedFilter:
    """A metadata filter resolved against what the index holds (rag.retrieval.filters): explicit
    value lists, None = no condition on that field. Every route and store applies these same
    lists in its own terms (Chroma's `where`, the lexical index's SQL), so their hits agree."""

    sources: tuple[str, ...] | None
    sections: tuple[str, ...] | None
    page_min: int | None
    page_max: int | None

    def matches(self, source: str, page: int | None, section: str) -> bool:
        """Whether one chunk's metadata passes (the reference the routes must agree with)."""
        if self.sources is not None and source not in self.sources:
            return False
        if self.sections is not None and section not in self.sections:
            return False
        if (self.page_min is not None or self.page_max is not None) and page is None:
            return False
        if self.page_min is not None and page is not None and page < self.page_min:
            return False
        return not (self.page_max is not None and page is not None and page > self.page_max)
