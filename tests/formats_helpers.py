"""Files of each format, written by the libraries that read them (no binary fixtures), each
holding a fact found nowhere else."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Annual report"
    document.add_heading("Results", 1)
    document.add_paragraph("The Kestrel plant produced 4,180 turbines in 2025.")
    table = document.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "Region", (0, 1): "Manager", (1, 0): "North", (1, 1): "Ingrid Solberg"}.items():
        table.cell(r, c).text = text
    document.add_heading("Outlook", 1)
    document.add_paragraph("Next year the plant moves to Tromsø.")
    document.save(path)
    return path


def write_pptx(path: Path) -> Path:
    from pptx import Presentation

    deck = Presentation()
    for title, body, notes in (("Welcome", "Quarterly review", ""),
                               ("Launch plan", "The Osprey rocket launches from Andøya in March.",
                                "Mention the weather window.")):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    from pptx.util import Inches

    table = deck.slides[0].shapes.add_table(2, 2, Inches(1), Inches(5), Inches(4), Inches(1)).table
    for (r, c), text in {(0, 0): "Quarter", (0, 1): "Launches", (1, 0): "Q1", (1, 1): "3"}.items():
        table.cell(r, c).text = text
    deck.save(path)
    return path


def write_xlsx(path: Path) -> Path:
    """With XlsxWriter, which stores a formula's cached value as Excel does (openpyxl does not)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Staff")
    for r, row in enumerate((("Name", "Role", "Desk"), ("Mirela Kovac", "Chief chemist", 17), ("Tom Ede", "Driver", 3))):
        sheet.write_row(r, 0, row)
    sheet.write_formula("C4", "=C2+C3", None, 20)  # cached 20; never evaluated when read
    book.add_worksheet("Empty")
    book.close()
    return path


def write_eml(path: Path, html: bool = False) -> Path:
    message = EmailMessage()
    message["Subject"] = "Boiler inspection"
    message["From"] = "facilities@example.org"
    message["To"] = "staff@example.org"
    message["Date"] = "Tue, 03 Mar 2026 09:00:00 +0000"
    text = "The boiler inspection is on Thursday at 7 am in basement room B12."
    if html:
        message.set_content(f"<html><body><p>{text}</p></body></html>", subtype="html")
    else:
        message.set_content(text)
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="checklist.pdf")
    path.write_bytes(bytes(message))
    return path


def write_epub(path: Path, encrypted: bool = False) -> Path:
    chapters = {"c1.xhtml": "<html><head><title>One</title></head><body><h1>The harbour</h1>"
                            "<p>The lighthouse keeper was called Anselm Brek.</p></body></html>",
                "c2.xhtml": "<html><body><h1>The storm</h1><p>The storm of 1911 sank the ferry Maren.</p>"
                            "</body></html>"}
    opf = ('<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
           '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Coast tales</dc:title></metadata>'
           '<manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/>'
           '<item id="c2" href="c2.xhtml" media-type="application/xhtml+xml"/></manifest>'
           '<spine><itemref idref="c2"/><itemref idref="c1"/></spine></package>')
    container = ('<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                 '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
                 '</rootfiles></container>')
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("OEBPS/content.opf", opf)
        for name, xhtml in chapters.items():
            archive.writestr(f"OEBPS/{name}", xhtml)
        if encrypted:
            archive.writestr("META-INF/encryption.xml", "<encryption><EncryptedData/></encryption>")
    return path


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


SCANNED = "The archive vault is kept at 14 degrees Celsius."


def scanned_image(text: str = SCANNED):  # -> PIL.Image
    """`text` drawn in black on white, large enough for OCR (a scanned line)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1800, 220), 255)
    ImageDraw.Draw(image).text((40, 70), text, fill=0, font=ImageFont.load_default(size=52))
    return image


def write_scanned_pdf(path: Path, text: str = SCANNED) -> Path:
    """A PDF whose one page is an image and has no text layer (as a scanner writes it)."""
    scanned_image(text).convert("RGB").save(path, "PDF", resolution=150)
    return path
