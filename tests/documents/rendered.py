"""Reading a PDF as a person would: each page rendered to an image (pypdfium2, PDFium's own renderer) and its text
read back line by line. The images are kept in ``artifacts/documents/`` (git ignores ``artifacts/``; CI collects it)."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

from services.documents.report import Document

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "documents"


def pages(document: Document) -> list[list[str]]:
    """Each page's lines of text; every page is also rendered to an image, checked to show something, and kept."""
    pdf = pdfium.PdfDocument(document.data)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = []
    for number, page in enumerate(pdf, start=1):
        image = page.render(scale=1.5).to_pil().convert("L")
        width, height = image.size
        assert (width > height) == (page.get_width() > page.get_height())
        inked = width * height - image.histogram()[255]  # pixels that are not white
        assert inked > width * height // 200, f"page {number} of {document.name} is nearly blank"
        image.save(ARTIFACTS / f"{Path(document.name).stem}-{number}.png")
        out.append(page.get_textpage().get_text_range().replace("\r\n", "\n").split("\n"))
    return out
