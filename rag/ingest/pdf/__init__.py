"""PDF text: extractors (PDFium by default, pypdf beside it) and the cleaning that keeps words
whole (hyphenation, ligatures, running headers and footers)."""

from rag.ingest.pdf.extractors import EXTRACTORS, extractor_signature
from rag.ingest.pdf.load import load_pdf

__all__ = ["EXTRACTORS", "extractor_signature", "load_pdf"]
