"""EPUB books: the zip's package document gives the reading order (the spine), each chapter's
XHTML goes through the HTML loader's text (headings -> section), one page per chapter.

Read with zipfile and defusedxml rather than ebooklib: ebooklib is AGPL-3.0, which this
Apache-2.0 package will not pull in, and the format's reading order is two small XML files.
A DRM-encrypted book (META-INF/encryption.xml naming its chapters) is reported as such."""

from __future__ import annotations

import posixpath
import zipfile

from rag.errors import LoadError
from rag.ingest.loaders.archive import open_zip
from rag.ingest.loaders.registry import Loader, LoadOptions, register_loader
from rag.ingest.loaders.text import decode_text, html_to_text
from rag.types import Page

OPF = "{http://www.idpf.org/2007/opf}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"


def _xml(archive: zipfile.ZipFile, name: str):  # -> Element
    from defusedxml import ElementTree

    try:
        return ElementTree.fromstring(archive.read(name))
    except KeyError as exc:
        raise LoadError(f"corrupt .epub: {name} is missing") from exc
    except Exception as exc:  # ParseError and defusedxml's refusals (entity bombs)
        raise LoadError(f"corrupt .epub: {name} is not readable XML ({exc})") from exc


def _load(data: bytes, source: str, options: LoadOptions) -> list[Page]:
    archive = open_zip(data, ".epub")
    rootfile = _xml(archive, "META-INF/container.xml").find(f".//{CONTAINER}rootfile")
    if rootfile is None or not rootfile.get("full-path"):
        raise LoadError("corrupt .epub: META-INF/container.xml names no package document")
    opf_path = rootfile.get("full-path", "")
    package = _xml(archive, opf_path)
    base = posixpath.dirname(opf_path)
    items = {i.get("id"): i for i in package.iter(f"{OPF}item")}
    if "META-INF/encryption.xml" in archive.namelist() and "EncryptedData" in archive.read(
            "META-INF/encryption.xml").decode("utf-8", "replace"):
        raise LoadError("DRM-protected .epub: its chapters are encrypted")
    title = (package.findtext(f".//{DC}title") or "").strip()
    pages: list[Page] = []
    for ref in package.iter(f"{OPF}itemref"):
        item = items.get(ref.get("idref"))
        if item is None or "html" not in (item.get("media-type") or ""):
            continue
        name = posixpath.normpath(posixpath.join(base, item.get("href", "")))
        try:
            text = html_to_text(decode_text(archive.read(name)))
        except KeyError:
            raise LoadError(f"corrupt .epub: chapter {name} is missing") from None
        if text.strip():
            pages.append(Page(source, len(pages) + 1, text, "epub", title, headings=True))
    if not pages:
        raise LoadError("no text in any chapter")
    return pages


register_loader(Loader("epub", (".epub",), _load, about="EPUB: one page per chapter, headings -> section"))
