"""Small documents of every supported format, made in code (no binary fixtures in the repository)."""

from __future__ import annotations

import io
from collections.abc import Sequence


def make_pdf(pages: Sequence[str | Sequence[str]]) -> bytes:
    """A minimal valid PDF: each page is a line, or a list of lines, of Helvetica text (no parentheses)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>")
    font_id = 3 + 2 * len(pages)
    for i, page in enumerate(pages):
        lines = [page] if isinstance(page, str) else page
        shown = " T* ".join(f"({line}) Tj" for line in lines)
        stream = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {4 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return _pdf_file(objects)


def make_styled_pdf(
    pages: Sequence[Sequence[tuple[str, float, bool]]], *, scale_by_matrix: bool = False
) -> bytes:
    """A PDF whose lines are (text, size in points, bold) in Helvetica or Helvetica-Bold. With
    `scale_by_matrix` the font is set at 1 pt and the text matrix scales it, as many generators do."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>")
    regular, bold = 3 + 2 * len(pages), 4 + 2 * len(pages)
    for i, lines in enumerate(pages):
        shown, y = [], 740.0
        for text, size, is_bold in lines:
            font = "/F2" if is_bold else "/F1"
            if scale_by_matrix:
                shown.append(f"{font} 1 Tf {size} 0 0 {size} 72 {y} Tm ({text}) Tj")
            else:
                shown.append(f"{font} {size} Tf 1 0 0 1 72 {y} Tm ({text}) Tj")
            y -= size * 1.6
        stream = "BT " + " ".join(shown) + " ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {regular} 0 R /F2 {bold} 0 R >> >> /Contents {4 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>")
    return _pdf_file(objects)


def _pdf_file(objects: list[str]) -> bytes:
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def make_encrypted_pdf(text: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([text]))))
    writer.encrypt(user_password="open-sesame", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_blank_pdf(pages: int = 2) -> bytes:
    """Pages without a text layer, as a scanner would make them (minus the image)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(
    blocks: Sequence[tuple[str, str | Sequence[Sequence[str]]]], *, core_title: str | None = None
) -> bytes:
    """`blocks` are (style, content): style "h0".."h9" for a heading of that level (0 is the title), "" for
    a paragraph of text, "table" for a table whose content is its rows of cell texts."""
    import docx

    document = docx.Document()
    if core_title is not None:
        document.core_properties.title = core_title
    for style, content in blocks:
        if style == "table":
            rows = [list(row) for row in content]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for row, texts in zip(table.rows, rows, strict=True):
                for cell, text in zip(row.cells, texts, strict=True):
                    cell.text = text
        elif style.startswith("h"):
            document.add_heading(str(content), level=int(style[1:]))
        else:
            document.add_paragraph(str(content))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

CORPUS: dict[str, tuple[bytes, str]] = {
    "travel.txt": (
        b"Travel policy. Employees may book economy class for flights shorter than six hours. "
        b"Business class is allowed for flights longer than six hours with written manager approval.",
        "text/plain",
    ),
    "expenses.md": (
        b"# Expenses\n\n## Deadlines\n\nExpense reports must be submitted within 30 days of the trip "
        b"through the finance portal. Late reports need a director's signature.\n",
        "text/markdown",
    ),
    "security.html": (
        b"<html><head><title>Security handbook</title></head><body><nav>Home | About</nav><main>"
        b"<h1>Passwords</h1><p>Passwords must be rotated every 90 days and must contain at least 14 "
        b"characters.</p></main></body></html>",
        "text/html",
    ),
}


def sample_files() -> list[tuple[str, tuple[str, bytes, str]]]:
    """The five formats, as `files=` for the test client."""
    files = [("files", (name, content, kind)) for name, (content, kind) in CORPUS.items()]
    pdf = make_pdf(
        [
            "Welcome to Acme. Your laptop is issued on day one.",
            "The VPN client is called Tunnelbear Enterprise and requires hardware tokens.",
        ]
    )
    files.append(("files", ("onboarding.pdf", pdf, "application/pdf")))
    leave = make_docx(
        [("h1", "Parental leave"), ("", "Parents receive sixteen weeks of paid parental leave.")]
    )
    files.append(("files", ("leave.docx", leave, DOCX)))
    return files
