"""What one ingest run did: its own module, so that the unchanged-folder shortcut reports
without importing the ingest machinery."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class IngestReport:
    """What one ingest run did. `to_dict()` gives the CLI's --json object."""

    files_seen: int = 0
    files_added: int = 0
    files_updated: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_ignored: int = 0
    files_failed: list[dict[str, str]] = field(default_factory=list)
    chunks_upserted: int = 0
    chunks_deleted: int = 0
    chunks_embedded: int = 0  # texts actually sent to the embedder (after reuse and dedup)
    seconds: float = 0.0
    root: str = ""  # the label of the root ingested (rag.documents)
    new_root: bool = False  # whether this run added it to the index

    def to_dict(self) -> dict[str, object]:
        keys = ("root", "new_root", "files_seen", "files_added", "files_updated", "files_unchanged", "files_removed",
                "files_ignored", "files_failed", "chunks_upserted", "chunks_deleted", "seconds")
        return {k: getattr(self, k) for k in keys}

    @property
    def exit_code(self) -> int:
        return 1 if self.files_failed else 0
