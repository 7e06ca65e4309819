"""The worker's monthly statement as a PDF, drawn with reportlab from the figures and rows the
HTML page shows (`payouts.pages.statement`): this module formats, it never computes.

Money goes through the page's own `money` filter and dates through Django's `date` filter, so
both say the same thing to the character. The text is set in Bitstream Vera, which reportlab
ships: it has the minus sign (U+2212) the filter writes and most Latin scripts, and embedding it
keeps the text extractable (copy, search, screen readers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from io import BytesIO
from xml.sax.saxutils import escape

from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from kernel.presentation.formatting import money_text as money
from payouts.models import Earning, Payout
from workers.models import Worker

FONT, FONT_BOLD = "ShiftlineVera", "ShiftlineVera-Bold"


def _fonts() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, "VeraBd.ttf"))


def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=13)
    return {
        "title": ParagraphStyle("title", parent=body, fontName=FONT_BOLD, fontSize=16, leading=20, spaceAfter=4),
        "heading": ParagraphStyle("heading", parent=body, fontName=FONT_BOLD, fontSize=12, leading=15,
                                  spaceBefore=10, spaceAfter=4),
        "body": body,
        "muted": ParagraphStyle("muted", parent=body, fontSize=8.5, textColor=colors.HexColor("#555555")),
    }


def _table(rows: list[list[str]], widths: Sequence[float], amount_columns: Iterable[int],
           header: bool = True, bold_last: bool = False) -> Table:
    table = Table(rows, colWidths=list(widths), repeatRows=1 if header else 0, hAlign="LEFT")
    style = [
        ("FONT", (0, 0), (-1, -1), FONT, 9.5),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    style += [("ALIGN", (col, 0), (col, -1), "RIGHT") for col in amount_columns]
    if header:
        style += [("FONT", (0, 0), (-1, 0), FONT_BOLD, 9.5), ("LINEBELOW", (0, 0), (-1, 0), 0.75, colors.black)]
    if bold_last:
        style += [("FONT", (0, -1), (-1, -1), FONT_BOLD, 9.5), ("LINEABOVE", (0, -1), (-1, -1), 0.75, colors.black)]
    table.setStyle(TableStyle(style))
    return table


def statement_pdf(*, worker: Worker, month: dt.date, currency: str, summary: Sequence[tuple[str, str, int]],
                  earnings: Iterable[Earning], payouts: Iterable[Payout]) -> bytes:
    """The statement of `month` as PDF bytes. `summary` is the page's (key, label, amount) rows,
    opening balance first and closing balance last; `earnings` and `payouts` its two lists."""
    _fonts()
    styles = _styles()
    title = f"Statement — {date_filter(month, 'F Y')}"
    generated = timezone.now().strftime("%Y-%m-%d %H:%M UTC")

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(doc.leftMargin, 12 * mm, f"Shiftline · {title} · worker #{worker.pk} · made {generated}")
        canvas.drawRightString(A4[0] - doc.rightMargin, 12 * mm, f"Page {doc.page}")
        canvas.restoreState()

    story: list = [
        Paragraph(escape(title), styles["title"]),
        Paragraph(escape(f"{worker.full_name} · worker #{worker.pk} · {currency.upper()}"), styles["body"]),
        Spacer(1, 6 * mm),
        _table([[label, money(amount, currency)] for _key, label, amount in summary], (90 * mm, 45 * mm),
               amount_columns=[1], header=False, bold_last=True),
        Spacer(1, 2 * mm),
        Paragraph("Balance = what Shiftline owes you: pending + available + in transit.", styles["muted"]),
        Paragraph("Earnings this month", styles["heading"]),
    ]
    earning_rows = [[date_filter(e.created_at, "Y-m-d"), f"#{e.ticket_id}", e.get_kind_display(),
                     e.get_status_display(), money(e.amount, e.currency)] for e in earnings]
    story.append(_table([["Date", "Ticket", "Kind", "Status", "Amount"]] + earning_rows,
                        (28 * mm, 25 * mm, 40 * mm, 30 * mm, 35 * mm), amount_columns=[4])
                 if earning_rows else Paragraph("None.", styles["muted"]))
    story.append(Paragraph("Payouts this month", styles["heading"]))
    payout_rows = [[date_filter(p.paid_at, "Y-m-d"), p.stripe_transfer_id, money(p.amount, p.currency)]
                   for p in payouts]
    story.append(_table([["Paid", "Transfer", "Amount"]] + payout_rows, (28 * mm, 95 * mm, 35 * mm),
                        amount_columns=[2])
                 if payout_rows else Paragraph("None.", styles["muted"]))

    buffer = BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=20 * mm,
                            bottomMargin=22 * mm, title=title, author="Shiftline", creator="Shiftline",
                            subject=f"Statement of worker #{worker.pk}, {month:%Y-%m}")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
