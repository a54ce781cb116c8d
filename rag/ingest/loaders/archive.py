"""Opening the zip inside Office files and EPUBs safely: an encrypted Office file (an OLE
container, not a zip) and a corrupt one are named as such, and an archive whose members would
expand past a limit (a zip bomb disguised as .docx/.xlsx) is refused before anything is
expanded: zipfile never inflates a member past the size its header declares, so the declared
sizes bound what reading can cost."""

from __future__ import annotations

import io
import zipfile

from rag.errors import LoadError

OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container Office uses for encrypted (and pre-2007) files
MAX_EXPANDED = 1 << 30  # bytes all members may expand to
MAX_RATIO = 100  # ... and at most this many times the file's own size, past 64 MiB
SMALL = 64 << 20


def open_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    """The archive of a `kind` file (".docx").

    Raises:
        LoadError: encrypted (or an old binary format), corrupt, or expanding too far.
    """
    if data.startswith(OLE):
        raise LoadError(f"encrypted or password-protected {kind} (or the pre-2007 binary format): "
                        "save it without a password as a current Office file")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise LoadError(f"corrupt {kind}: not a readable zip archive ({exc})") from exc
    expanded = sum(member.file_size for member in archive.infolist())
    if expanded > MAX_EXPANDED or (expanded > SMALL and expanded > MAX_RATIO * len(data)):
        raise LoadError(f"refused: its {len(data) / 1e6:.1f} MB would expand to {expanded / 1e6:.0f} MB "
                        f"(a zip bomb?); the limit is {MAX_EXPANDED >> 20} MiB and {MAX_RATIO}x past "
                        f"{SMALL >> 20} MiB")
    return archive


def rows_text(header: list[str], row: list[str]) -> str:
    """A table row carried with its header, readable on its own: "Name: Ada; Year: 1843"
    (an empty cell is left out; a column without a header is named by its position)."""
    cells = [f"{header[n] if n < len(header) and header[n] else f'column {n + 1}'}: {value}"
             for n, value in enumerate(row) if value]
    return "; ".join(cells)


def table_lines(rows: list[list[str]]) -> list[str]:
    """A table's text: each row after the header as rows_text gives it (a header alone: itself)."""
    if not rows:
        return []
    lines = [line for line in (rows_text(rows[0], row) for row in rows[1:]) if line]
    return lines or (["; ".join(c for c in rows[0] if c)] if any(rows[0]) else [])
