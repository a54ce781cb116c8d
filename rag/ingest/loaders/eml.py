"""Saved e-mails (.eml) by the standard library's email package: subject, from, to and date
as header lines, then the text body (an HTML-only body through the HTML loader's text);
attachments are listed by name, never opened. The subject is the section."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from rag.errors import LoadError
from rag.ingest.loaders.registry import Loader, LoadOptions, register_loader
from rag.ingest.loaders.text import html_to_text
from rag.types import Page


def _load(data: bytes, source: str, options: LoadOptions) -> list[Page]:
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
    except Exception as exc:  # the parser is lenient; this is a last resort
        raise LoadError(f"unreadable e-mail: {exc}") from exc
    headers = {name: str(message.get(name, "") or "").strip() for name in ("Subject", "From", "To", "Date")}
    if not any(headers.values()):
        raise LoadError("not an e-mail: no Subject, From, To or Date header")
    body_part = message.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        try:
            body = body_part.get_content()
        except (LookupError, ValueError):  # an unknown charset: keep what decodes
            payload = body_part.get_payload(decode=True)
            body = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
        if body_part.get_content_subtype() == "html":
            body = html_to_text(body)
    attachments = [part.get_filename() or "(unnamed)" for part in message.iter_attachments()]
    lines = [f"{name}: {value}" for name, value in headers.items() if value]
    if attachments:
        lines.append("Attachments (not read): " + ", ".join(attachments))
    text = "\n".join(lines) + "\n\n" + body.replace("\r\n", "\n").strip()
    return [Page(source, None, text.strip(), "eml", headers["Subject"], section=headers["Subject"])]


register_loader(Loader("eml", (".eml",), _load,
                       about="e-mail: subject -> section, sender and date kept, attachments listed, not read"))
