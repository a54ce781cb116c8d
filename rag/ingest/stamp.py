"""The unchanged-folder shortcut of `ingest`.

After an ingest that left the index complete and in step with its folder, a stamp in the
index folder records each document's size and modification time, the settings that shape
chunks and vectors, and what marks a write to the index (`index_state`). A re-run
that finds all of them as recorded has nothing to do and says so without opening the store.
An unchanged re-run took about 1.0 s, nearly all of it importing Chroma, loading the tokenizer
and reading the manifest; it takes 0.2 s now, process start included (bench/README.md).

Anything else falls through to the full ingest, which compares content hashes: a touched or
added or removed document, another setting, a write to the index by any process, a stamp
that does not parse.

Only the standard library here: this runs before anything heavy is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STAMP = "ingest-stamp.json"
VERSION = 2  # 2: indexes of many roots (rag.documents); a stamp of 1 never matches
RACY_NS = 2_000_000_000


def document_stats(paths: dict[str, Path]) -> dict[str, list[int]]:
    """source -> [size, mtime_ns] of each document, taken before it is read ([-1, -1] for one
    gone since it was listed: it never matches)."""
    stats = {}
    for source, path in paths.items():
        try:
            st = path.stat()
            stats[source] = [st.st_size, st.st_mtime_ns]
        except OSError:
            stats[source] = [-1, -1]
    return stats


def index_state(lock: Path, files: Sequence[Path]) -> dict[str, Any]:
    """What changes when anyone writes to the index: the token every writer leaves in the
    lock file, and the size and time of `files` (and of a SQLite write-ahead log holding
    something). Readers leave both alone; Chroma's own files are not watched, because a reader
    opening the index rewrites them."""
    try:
        token: str | None = lock.read_text(encoding="utf-8")
    except OSError:
        token = None
    stats: dict[str, list[int] | None] = {}
    for path in files:
        for one in (path, path.with_name(path.name + "-wal")):
            try:
                st = one.stat()
            except OSError:
                st = None
            if one is path or (st is not None and st.st_size > 0):
                stats[one.name] = [st.st_size, st.st_mtime_ns] if st else None
    return {"writer": token, "files": stats}


def unchanged(index: Path, folder: Path, settings: dict[str, Any], paths: dict[str, Path],
              state: dict[str, Any]) -> str | None:
    """The root label `folder` has in the index, when the stamp in `index` says `folder` (its
    documents `paths`) is ingested as is and the index is in `state` (index_state) since;
    else None."""
    try:
        stamp = json.loads((index / STAMP).read_text(encoding="utf-8"))
        same = (stamp.get("version") == VERSION and stamp.get("folder") == str(folder.resolve())
                and stamp.get("settings") == settings and stamp.get("index") == state
                and stamp.get("documents") == document_stats(paths))
        return str(stamp.get("root", "")) if same else None
    except (OSError, ValueError, AttributeError):
        return None


def write(index: Path, folder: Path, settings: dict[str, Any], documents: dict[str, list[int]],
          state: dict[str, Any], root: str = "") -> None:
    """Record the state an ingest of `folder` (the index's root labelled `root`) just
    completed (documents as stat-ed before reading).

    A document modified within RACY_NS of now is recorded as never matching: file times tick
    coarsely, so an edit in the same tick as the one recorded would keep its time (and maybe
    its size). The next run compares its content, as git does with "racily clean" files.
    """
    now = time.time_ns()
    recent = {s: [size, -1] for s, (size, mtime) in documents.items() if mtime > now - RACY_NS}
    stamp = {"version": VERSION, "folder": str(folder.resolve()), "root": root, "settings": settings,
             "documents": {**documents, **recent}, "index": state}
    partial = index / (STAMP + ".partial")
    partial.write_text(json.dumps(stamp), encoding="utf-8")
    os.replace(partial, index / STAMP)


def remove(index: Path) -> None:
    """Drop the stamp before the index is written to."""
    with contextlib.suppress(FileNotFoundError):
        (index / STAMP).unlink()
