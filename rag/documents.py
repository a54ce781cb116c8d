"""Document ids and the roots they come from.

An index holds any number of roots: folders (or single files) ingested into it, each under a
short, readable label ("handbook", "wiki-export", "manual"). A document's id is its root's
label, a slash and its path relative to the root ("handbook/setup/install.md"): it is the
`source` every chunk, manifest entry, filter and answer shows, so two roots that both hold
`readme.md` never collide and an answer says which one it came from.

The roots themselves (label -> resolved path) are recorded in the index's metadata as JSON
under ROOTS_KEY, and a root whose ingest has begun and not committed under INGESTING_KEY. An index written before roots existed records only `source_root`, the one
folder it mirrored; `legacy_root` names it (rag/ingest/migrate.py turns it into the first root).

Only the standard library here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterable, Mapping
from pathlib import Path
from typing import Any

from rag.errors import InputError

ROOTS_KEY = "roots"
INGESTING_KEY = "ingesting"  # {label: path} of roots whose ingest has begun and not committed
LAYOUT_KEY = "layout_version"
LAYOUT = 2  # 1 (absent): one folder, sources relative to it; 2: roots, sources are document ids
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def document_id(label: str, relative: str) -> str:
    """`label/relative`: the document's id (its `source`)."""
    return f"{label}/{relative}"


def root_label(source: str) -> str:
    """The root label of a document id ("" for a source without one, from an old index)."""
    label, slash, _ = source.partition("/")
    return label if slash else ""


def relative_path(source: str) -> str:
    """The document's path inside its root (the whole source when it has no root label)."""
    _, slash, rest = source.partition("/")
    return rest if slash else source


def check_label(label: str) -> str:
    """The label, if it is one: letters, digits, '.', '_' and '-', not starting with '.'.

    Raises:
        InputError: anything else.
    """
    if not label or _UNSAFE.search(label) or label.startswith("."):
        raise InputError(f"root label {label!r} must be letters, digits, '.', '_' or '-' "
                         "(not starting with '.'), e.g. 'handbook'")
    return label


def new_label(path: Path, taken: Container[str]) -> str:
    """A readable label for the root at `path` not in `taken`: the folder's name (a file's
    name without its extension), made safe, then `-2`, `-3`... when another root holds it."""
    name = path.stem if path.is_file() else path.name
    base = _UNSAFE.sub("-", name).strip("-.") or "root"
    label, n = base, 1
    while label in taken:
        n += 1
        label = f"{base}-{n}"
    return label


def legacy_root(meta: Mapping[str, Any], sources: Iterable[str] = ()) -> tuple[str, str]:
    """(label, path) the single folder of an index written before roots becomes, given its
    documents' `sources`: the folder's name, stepping aside from every first folder of a
    source, so that no old source already looks like `label/...` (rag/ingest/migrate.py)."""
    path = str(meta.get("source_root") or "")
    taken = {s.partition("/")[0] for s in sources if "/" in s}
    return new_label(Path(path or "documents"), taken), path


def roots_of(meta: Mapping[str, Any], sources: Iterable[str] = ()) -> dict[str, str]:
    """label -> path of every recorded root (an old index: its single folder, if it has one,
    labelled as `legacy_root` does with the index's `sources`)."""
    raw = meta.get(ROOTS_KEY)
    if raw:
        try:
            roots = json.loads(raw)
            if isinstance(roots, dict):
                return {str(k): str(v) for k, v in roots.items()}
        except ValueError:
            pass
    if meta.get(LAYOUT_KEY) is None and meta.get("source_root"):
        label, path = legacy_root(meta, sources)
        return {label: path}
    return {}


def ingesting_of(meta: Mapping[str, Any]) -> dict[str, str]:
    """label -> path of the roots whose ingest began and has not committed."""
    try:
        found = json.loads(meta.get(INGESTING_KEY) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def roots_value(roots: Mapping[str, str]) -> str:
    """The metadata value recording `roots` or `ingesting` (Chroma metadata holds only scalars)."""
    return json.dumps(dict(sorted(roots.items())))


def find_root(roots: Mapping[str, str], path: Path, label: str | None = None) -> tuple[str, bool]:
    """(label, is_new) of the root at `path`: the one recorded for that path, or the given
    `label` (a recorded label with another path: the root moved), or a new label.

    Raises:
        InputError: `label` is not a valid label, or names a new root for a path that is
            already another root (a root is renamed by forgetting it and ingesting again).
    """
    resolved = str(path.resolve())
    if label is not None:
        check_label(label)
        other = [known for known, where in roots.items() if where == resolved and known != label]
        if other and label not in roots:
            raise InputError(f"{str(path)!r} is already the root {other[0]!r}; ingest it with --label {other[0]} "
                             f"(or `rag forget {other[0]}` first to give it another label)")
        return label, label not in roots
    for known, where in roots.items():
        if where == resolved:
            return known, False
    return new_label(path, roots), True
