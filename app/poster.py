"""A4 posters for offices and NGOs: the bot's deep link as a QR code and an invitation per language.

One layout (in millimetres, measured with the DejaVu Sans shipped in matplotlib's package data) is
drawn three ways: a PDF with the fonts embedded, a 300 dpi PNG, and an SVG.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import matplotlib
import segno
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from app.config import LOCALES
from app.i18n import Translator
from conversations.messages import _
from conversations.notices import last_moment
from storage.uow import UnitOfWork

FORMATS = ("pdf", "png", "svg")
PAGE_W, PAGE_H = 210.0, 297.0  # A4 portrait, mm
MARGIN = 15.0
PT = 25.4 / 72  # millimetres per typographic point
PNG_DPI = 300
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
REGULAR, BOLD = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
_USERNAME = re.compile(r"[A-Za-z0-9_]{5,32}")


def deep_link(bot_username: str, payload: str) -> str:
    """The t.me address that opens the bot and sends it `/start <payload>`."""
    username = bot_username.removeprefix("@")
    if not _USERNAME.fullmatch(username):
        raise ValueError(f"not a Telegram bot username: {bot_username!r}")
    if not _PAYLOAD.fullmatch(payload):
        raise ValueError(f"a start payload is 1–64 characters of A–Z a–z 0–9 _ -, not {payload!r}")
    return f"https://t.me/{username}?start={payload}"


@dataclass(frozen=True)
class _Text:
    """One line centred on the page; `y` is its baseline in mm from the top, `size` in points."""

    y: float
    size: float
    text: str
    bold: bool = False
    lang: str | None = None


@dataclass(frozen=True)
class _Layout:
    """Where everything goes, in mm from the top-left corner; the QR square includes its quiet zone."""

    texts: list[_Text]
    qr_x: float
    qr_y: float
    qr_size: float


@cache
def _font(bold: bool, size: float) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (bold or regular) at a size in pixels."""
    return ImageFont.truetype(str(BOLD if bold else REGULAR), size)


def _width(text: str, size: float, bold: bool = False) -> float:
    """Printed width of a text in mm at a size in points."""
    return _font(bold, 1000).getlength(text) / 1000 * size * PT


def _wrap(text: str, size: float, bold: bool, width: float) -> list[str]:
    """Break a text at spaces into rows no wider than `width` mm (a longer word keeps its own row)."""
    rows: list[str] = []
    for word in text.split():
        if rows and _width(f"{rows[-1]} {word}", size, bold) <= width:
            rows[-1] = f"{rows[-1]} {word}"
        else:
            rows.append(word)
    return rows or [""]


def _fit(text: str, bold: bool, largest: float, smallest: float) -> tuple[float, list[str]]:
    """The largest size (pt) at which a text fits one row, else its rows at the smallest size."""
    width = PAGE_W - 2 * MARGIN
    size = largest
    while size > smallest and _width(text, size, bold) > width:
        size -= 1
    return size, _wrap(text, size, bold, width)


def _layout(link: str, heading: str, lines: Sequence[tuple[str, str]]) -> _Layout:
    """Heading on top, then the QR code and the invitations, the link in small print at the bottom."""
    gap, lang_gap, leading = 8.0, 2.5, 1.3
    head_size, head_rows = _fit(heading, True, 28, 18)
    link_size, link_rows = _fit(link, False, 10, 6)
    head_h = len(head_rows) * head_size * PT * leading
    foot_top = PAGE_H - MARGIN - len(link_rows) * link_size * PT * leading
    for body in (16.0, 14.0, 12.0, 10.0):
        body_rows = [(lang, _wrap(text, body, False, PAGE_W - 2 * MARGIN)) for lang, text in lines]
        body_h = sum(len(rows) for _, rows in body_rows) * body * PT * leading
        body_h += lang_gap * max(len(lines) - 1, 0)
        room = foot_top - (MARGIN + head_h) - 3 * gap - body_h
        qr_size = min(room, 150.0, PAGE_W - 2 * MARGIN)
        if qr_size >= 100:
            break
    qr_size = max(qr_size, 40.0)
    texts: list[_Text] = []
    y = MARGIN
    for row in head_rows:
        texts.append(_Text(y + 0.95 * head_size * PT, head_size, row, bold=True))
        y += head_size * PT * leading
    # The QR code and the invitations sit together in the middle of the space that is left.
    qr_y = y + gap + max(room - qr_size, 0) / 2
    y = qr_y + qr_size + gap
    for lang, rows in body_rows:
        for row in rows:
            texts.append(_Text(y + 0.95 * body * PT, body, row, lang=lang))
            y += body * PT * leading
        y += lang_gap
    y = foot_top
    for row in link_rows:
        texts.append(_Text(y + 0.95 * link_size * PT, link_size, row))
        y += link_size * PT * leading
    return _Layout(texts, (PAGE_W - qr_size) / 2, qr_y, qr_size)


def _pdf(layout: _Layout, qr: segno.QRCode, link: str, heading: str) -> bytes:
    """The poster as a one-page A4 PDF with DejaVu Sans embedded."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(heading)
    pdf.set_creator("Open Cities Audit Bot")
    pdf.add_font("DejaVu", "", str(REGULAR))
    pdf.add_font("DejaVu", "B", str(BOLD))
    pdf.add_page()
    x, y, size = layout.qr_x, layout.qr_y, layout.qr_size
    pdf.image(io.BytesIO(_qr_png(qr, 10)), x, y, size, size)
    pdf.link(x, y, size, size, link)
    for text in layout.texts:
        pdf.set_font("DejaVu", "B" if text.bold else "", text.size)
        pdf.text((PAGE_W - pdf.get_string_width(text.text)) / 2, text.y, text.text)
    return bytes(pdf.output())


def _qr_png(qr: segno.QRCode, scale: int) -> bytes:
    """The QR code with its quiet zone as a PNG, `scale` pixels per module."""
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def _png(layout: _Layout, qr: segno.QRCode) -> bytes:
    """The poster as a greyscale A4 PNG at 300 dpi (2480×3508)."""

    def px(mm: float) -> int:
        """Millimetres to pixels."""
        return round(mm / 25.4 * PNG_DPI)

    page = Image.new("L", (px(PAGE_W), px(PAGE_H)), 255)
    modules = int(qr.symbol_size(border=4)[0])
    code = Image.open(io.BytesIO(_qr_png(qr, px(layout.qr_size) // modules))).convert("L")
    offset = (px(layout.qr_size) - code.width) // 2
    page.paste(code, (px(layout.qr_x) + offset, px(layout.qr_y) + offset))
    draw = ImageDraw.Draw(page)
    for text in layout.texts:
        font = _font(text.bold, text.size / 72 * PNG_DPI)
        draw.text((px(PAGE_W / 2), px(text.y)), text.text, fill=0, font=font, anchor="ms")
    out = io.BytesIO()
    page.save(out, format="PNG", dpi=(PNG_DPI, PNG_DPI))
    return out.getvalue()


def _svg(layout: _Layout, qr: segno.QRCode, heading: str) -> bytes:
    """The poster as an A4 SVG whose user unit is the millimetre."""
    root = ET.Element(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        width=f"{PAGE_W:g}mm",
        height=f"{PAGE_H:g}mm",
        viewBox=f"0 0 {PAGE_W:g} {PAGE_H:g}",
    )
    ET.SubElement(root, "title").text = heading
    ET.SubElement(root, "rect", width="100%", height="100%", fill="#fff")
    code = ET.fromstring(qr.svg_inline(border=4, omitsize=True))
    code.attrib.update(
        x=f"{layout.qr_x:.2f}",
        y=f"{layout.qr_y:.2f}",
        width=f"{layout.qr_size:.2f}",
        height=f"{layout.qr_size:.2f}",
    )
    root.append(code)
    for text in layout.texts:
        element = ET.SubElement(
            root,
            "text",
            x=f"{PAGE_W / 2:g}",
            y=f"{text.y:.2f}",
            attrib={"text-anchor": "middle", "font-family": "DejaVu Sans, sans-serif"},
        )
        element.set("font-size", f"{text.size * PT:.2f}")
        if text.bold:
            element.set("font-weight", "bold")
        if text.lang:
            element.set("{http://www.w3.org/XML/1998/namespace}lang", text.lang)
        element.text = text.text
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def render_poster(link: str, heading: str, lines: Sequence[tuple[str, str]], fmt: str) -> bytes:
    """An A4 poster: heading, a QR code of `link`, one invitation per (language, text), the link."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown poster format {fmt!r}; choose one of {', '.join(FORMATS)}")
    qr = segno.make(link, error="q", micro=False)
    layout = _layout(link, heading, lines)
    if fmt == "pdf":
        return _pdf(layout, qr, link, heading)
    if fmt == "png":
        return _png(layout, qr)
    return _svg(layout, qr, heading)


POSTER_LINE = _(
    "Help your city: tell us how useful its services for migrants are. "
    "Scan the code — it takes 3 minutes."
)


@dataclass(frozen=True)
class PosterPlan:
    """What a poster shows, read from the database; rendering it (`render`) needs no database,
    so it happens after the transaction that read it."""

    name: str
    link: str
    heading: str
    lines: list[tuple[str, str]]
    fmt: str

    def render(self) -> tuple[str, bytes]:
        """(file name, content)."""
        return self.name, render_poster(self.link, self.heading, self.lines, self.fmt)


async def poster_for(
    uow: UnitOfWork,
    translator: Translator,
    bot_username: str,
    city_id: str,
    practice_id: str | None,
    round_id: int | None,
    fmt: str,
) -> PosterPlan:
    """A poster for a city, one of its practices, a round, or a practice in a round. The
    heading names what the code opens: a round's poster says until when it runs."""
    city = await uow.catalog.city(city_id)
    if city is None:
        raise ValueError(f"unknown city '{city_id}'")
    heading_parts = [city.name["pl"]]
    payload = f"c_{city_id}"
    if practice_id:
        practice = await uow.catalog.practice(practice_id)
        if practice is None or practice.city_id != city_id:
            raise ValueError(f"'{practice_id}' is not a practice of {city_id}")
        heading_parts.append(practice.name["pl"])
        payload = f"p_{practice_id}"
    if round_id is not None:
        round_ = await uow.rounds.get(round_id)
        if round_ is None or round_.city_id != city_id:
            raise ValueError(f"round {round_id} is not a round of {city_id}")
        if round_.status == "closed":
            raise ValueError(f"round {round_id} is closed")
        if practice_id and practice_id not in await uow.rounds.practice_ids(round_id):
            raise ValueError(f"'{practice_id}' is not evaluated in round {round_id}")
        until = _("Survey until {date}", date=last_moment(round_.closes_at))
        heading_parts.append(translator.render(until, "pl"))
        payload = f"r_{round_id}_{practice_id}" if practice_id else f"r_{round_id}"
    lines = [(locale, translator.render(POSTER_LINE, locale)) for locale in LOCALES]
    link = deep_link(bot_username, payload)
    return PosterPlan(f"poster-{payload}.{fmt}", link, " · ".join(heading_parts), lines, fmt)
