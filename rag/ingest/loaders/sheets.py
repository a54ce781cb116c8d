"""Tables: Excel (.xlsx by openpyxl, read-only: rows stream from the file and a formula shows
its cached value, never evaluated) and CSV/TSV (the csv module). Each sheet is the section; each
row is carried with its header ("Name: Ada; Year: 1843") so a chunk of rows reads on its own;
rows are grouped ROWS_PER_PAGE to a page so a 100k-row sheet is never one string."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rag.errors import LoadError
from rag.ingest.loaders.archive import open_zip, rows_text
from rag.ingest.loaders.registry import Loader, LoadOptions, register_loader
from rag.ingest.loaders.text import decode_text
from rag.types import Page

ROWS_PER_PAGE = 500


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def table_pages(rows: Iterable[Iterable[Any]], source: str, kind: str, sheet: str) -> Iterator[Page]:
    """Pages of one table: its first non-empty row is the header, each later row one line."""
    header: list[str] | None = None
    lines: list[str] = []
    pages = 0
    for number, raw in enumerate(rows, 1):
        row = [_cell(v) for v in raw]
        if not any(row):
            continue
        if header is None:
            header = row
            continue
        lines.append(f"Row {number}: {rows_text(header, row)}")
        if len(lines) == ROWS_PER_PAGE:
            yield Page(source, None, "\n".join(lines), kind, section=sheet)
            lines, pages = [], pages + 1
    if lines:
        yield Page(source, None, "\n".join(lines), kind, section=sheet)
    elif header is not None and not pages:  # a header and no rows: the header is the table's text
        yield Page(source, None, "; ".join(header), kind, section=sheet)


def _xlsx(data: bytes, source: str, options: LoadOptions) -> list[Page]:
    import openpyxl

    open_zip(data, ".xlsx")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a broken package
        raise LoadError(f"corrupt .xlsx: {exc}") from exc
    try:
        pages = [p for sheet in book.worksheets
                 for p in table_pages(sheet.iter_rows(values_only=True), source, "xlsx", sheet.title)]
    finally:
        book.close()
    if not pages:
        raise LoadError("no cells with values on any sheet")
    return pages


def _csv(data: bytes, source: str, options: LoadOptions) -> list[Page]:
    text = decode_text(data)
    if Path(source).suffix.lower() == ".tsv":
        dialect: Any = csv.excel_tab
    else:
        try:
            dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
    try:
        pages = list(table_pages(csv.reader(io.StringIO(text), dialect), source, "csv", Path(source).stem))
    except csv.Error as exc:
        raise LoadError(f"malformed CSV: {exc}") from exc
    if not pages:
        raise LoadError("no rows with values")
    return pages


register_loader(Loader("xlsx", (".xlsx",), _xlsx,
                       about="Excel: sheet -> section, rows as 'header: value' lines, cached formula values"))
register_loader(Loader("csv", (".csv", ".tsv"), _csv, about="CSV/TSV: rows as 'header: value' lines"))
