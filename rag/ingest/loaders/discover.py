"""Find the documents under a root: every file a registered loader reads (rag.ingest.loaders.registry),
following symlinks without looping; read a file's bytes with its OS error as the reason."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError, LoadError
from rag.ingest.loaders.registry import extensions_text, loader_for


@dataclass(frozen=True)
class FoundFile:
    """A file to ingest: its absolute path and its source name relative to the root."""

    path: Path
    source: str
    outside: bool = False  # a symlink out of a confined root: listed to be reported, never read


def discover(root: str | Path, confine: bool = False) -> tuple[list[FoundFile], int]:
    """List ingestible files under `root` (a folder, or one document), following symlinks
    without looping.

    Hidden files and folders (name starting with '.') are skipped silently; files with
    other extensions are counted as ignored. With `confine`, symlinks are followed only while
    they stay inside `root` (resolved): a folder link out of it is not entered and a file link
    out of it is listed with `outside=True`, to be reported and never read (`rag serve`).

    Returns:
        (files sorted by source, number of ignored files)

    Raises:
        InputError: `root` is not a directory.
    """
    root = Path(root)
    if root.is_file():  # a single document is a root of its own
        if loader_for(root) is not None:
            return [FoundFile(root, root.name)], 0
        raise InputError(f"{str(root)!r} is not a document of a known format ({extensions_text()})")
    if not root.is_dir():
        raise InputError(f"{str(root)!r} does not exist or is not a folder or a document")
    found: list[FoundFile] = []
    ignored = 0
    seen_dirs: set[tuple[int, int]] = set()
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        stat = os.stat(dirpath)
        if (stat.st_dev, stat.st_ino) in seen_dirs:  # a symlink loop or a second way in
            dirnames[:] = []
            continue
        seen_dirs.add((stat.st_dev, stat.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and not (confine and not _inside(Path(dirpath) / d, real_root)))
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if loader_for(path) is not None and (path.is_file() or path.is_symlink()):
                found.append(FoundFile(path, path.relative_to(root).as_posix(),
                                       confine and not _inside(path, real_root)))
            else:
                ignored += 1
    return sorted(found, key=lambda f: f.source), ignored


def _inside(path: Path, real_root: Path) -> bool:
    """Whether `path`, its symlinks resolved, lies under `real_root`."""
    return path.resolve().is_relative_to(real_root)


def read_bytes(path: str | Path) -> bytes:
    """Read a file's bytes, turning OS errors into LoadError with the reason."""
    try:
        return Path(path).read_bytes()
    except PermissionError as exc:
        raise LoadError(f"permission denied: {exc.strerror}") from exc
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}") from exc
