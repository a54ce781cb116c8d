"""The unchanged-folder shortcut around one ingest of a local index (the stamp: rag.ingest.stamp).

    shortcut = Shortcut(index, folder, settings, [lexical file])
    report = shortcut.check(embedder_name, confine, replace, label)  # an IngestReport when unchanged
    ... the full ingest ...
    shortcut.record(report, embedder_name)                           # after a clean one

It watches the index's writer mark (rag.store) and the files given, so a write by any process
makes the next run take the full path.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rag.ingest import stamp
from rag.ingest.loaders import discover
from rag.ingest.report import IngestReport
from rag.store.lease import writer_mark


class Shortcut:
    """Answers an ingest of `folder` into the local index folder `index` from the stamp, and
    records the stamp after a clean ingest.

    Args:
        settings: the settings that shape chunks and vectors (the configuration's index,
            chunking and embedding sections, as plain values).
        watched: files beside the store that every write changes (the lexical index).
    """

    def __init__(self, index: Path, folder: Path, settings: Mapping[str, object], watched: Sequence[Path]) -> None:
        self.index = index
        self.folder = folder
        self.settings = dict(settings)
        self.watched = list(watched)
        self.documents: dict[str, list[int]] | None = None  # as stat-ed before the full ingest

    def _state(self) -> dict[str, object]:
        return stamp.index_state(writer_mark(self.index), self.watched)

    def check(self, embedder_name: str, confine: bool, replace: bool, label: str | None) -> IngestReport | None:
        """The report of a run with nothing to do, when the stamp says the folder is ingested
        as is and nobody wrote to the index since; else None (the stamp is then removed and
        the documents stat-ed, before they are read, for `record`)."""
        started = time.perf_counter()
        if not self.folder.exists():
            return None
        found, ignored = discover(self.folder, confine)
        paths = {f.source: f.path for f in found}
        used = {**self.settings, "embedder": embedder_name}
        if paths and not replace and label is None and not any(f.outside for f in found):
            root = stamp.unchanged(self.index, self.folder, used, paths, self._state())
            if root is not None:
                return IngestReport(files_seen=len(paths), files_unchanged=len(paths), files_ignored=ignored,
                                    seconds=time.perf_counter() - started, root=root)
        self.documents = stamp.document_stats(paths)  # a file edited meanwhile is seen next time
        stamp.remove(self.index)
        return None

    def record(self, report: IngestReport, embedder_name: str) -> None:
        """Write the stamp of the ingest just finished, when it failed no file."""
        if self.documents is None or report.files_failed:
            return
        used = {**self.settings, "embedder": embedder_name}
        stamp.write(self.index, self.folder, used, self.documents, self._state(), report.root)
