"""Where `rag serve` may ingest from: only folders under its `--ingest-root DIR`s (none by
default, so ingest over HTTP is off until asked for). A folder is resolved first (symlinks,
`..`), then checked; the ingest itself follows no symlink out of it (rag.Pipeline.ingest's
`confine`), so nothing outside a root is ever read, and a refused request writes nothing."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rag.errors import InputError, RagError

OFF = ("ingest over HTTP is off: start rag serve with --ingest-root DIR (repeatable) to allow "
       "ingesting folders under DIR")


class ForbiddenError(RagError):
    """A request for something this server was not started to allow (HTTP 403)."""


class IngestRoots:
    """The folders a server ingests under.

    Args:
        roots: folders (`--ingest-root`); each must exist.

    Raises:
        InputError: a root that is not a folder.
    """

    def __init__(self, roots: Iterable[str | Path] = ()) -> None:
        given = [str(r) for r in roots]
        self.roots: tuple[Path, ...] = tuple(Path(r).expanduser().resolve() for r in given)
        for name, root in zip(given, self.roots):
            if not root.is_dir():
                raise InputError(f"--ingest-root {name!r} is not a folder")

    @property
    def enabled(self) -> bool:
        return bool(self.roots)

    def check(self, folder: str) -> Path:
        """`folder` resolved, when it lies under a root.

        Raises:
            ForbiddenError: ingest is off, or the folder (resolved) lies outside every root.
            InputError: an empty folder name.
        """
        if not self.roots:
            raise ForbiddenError(OFF)
        if not isinstance(folder, str) or not folder.strip():
            raise InputError("folder must be a non-empty path")
        resolved = Path(folder).expanduser().resolve()
        if not any(resolved.is_relative_to(root) for root in self.roots):
            allowed = ", ".join(str(r) for r in self.roots)
            raise ForbiddenError(f"folder {folder!r} (resolved: {str(resolved)!r}) is outside the ingest "
                                 f"roots this server was started with: {allowed}")
        return resolved

    def to_dict(self) -> dict[str, object]:
        return {"enabled": self.enabled, "roots": [str(r) for r in self.roots],
                "how": None if self.roots else OFF}
