"""QR posters: the code scans to the bot's link, and every language's invitation is on the page."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from app.poster import MARGIN, PAGE_H, PAGE_W, _layout, _width, deep_link, render_poster

LINK = deep_link("OpenCitiesAuditBot", "krakow-otwarty_krakow")
HEADING = "Kraków · Otwarty Kraków"
LINES = [
    ("uk", "Оцініть, як ваше місто допомагає мігрантам: відскануйте код і пройдіть опитування"),
    ("ru", "Оцените, как ваш город помогает мигрантам: отсканируйте код и пройдите опрос"),
    ("en", "Tell us how your city supports migrants: scan the code and take a 3-minute survey"),
    ("pl", "Zażółć gęślą jaźń, oceń ćwiczenia: zeskanuj kod i wypełnij ankietę o usługach"),
]
SVG = "{http://www.w3.org/2000/svg}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@pytest.fixture(scope="module")
def poster() -> dict[str, bytes]:
    """The same poster in every format."""
    return {fmt: render_poster(LINK, HEADING, LINES, fmt) for fmt in ("pdf", "png", "svg")}


def words(text: str) -> str:
    """A text with every run of whitespace (a line break included) made one space."""
    return " ".join(text.split())


def decode(image: Image.Image) -> list[str]:
    """The texts of the QR codes found in an image."""
    return [
        found.text
        for found in zxingcpp.read_barcodes(image)
        if found.format == zxingcpp.BarcodeFormat.QRCode
    ]


def test_pdf_text_has_every_language_heading_and_link(poster: dict[str, bytes]) -> None:
    page = PdfReader(io.BytesIO(poster["pdf"])).pages[0]
    text = words(page.extract_text())
    assert HEADING in text
    for _, line in LINES:
        assert line in text
    assert all(letter in text for letter in "ąęłóśżźćń")
    assert LINK in text


def test_pdf_is_one_a4_page_with_embedded_truetype_fonts(poster: dict[str, bytes]) -> None:
    reader = PdfReader(io.BytesIO(poster["pdf"]))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert round(float(page.mediabox.width) / 72 * 25.4) == 210
    assert round(float(page.mediabox.height) / 72 * 25.4) == 297
    fonts = page["/Resources"]["/Font"]
    assert fonts
    for ref in fonts.values():
        font = ref.get_object()
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        assert "/FontFile2" in descriptor.get_object()


def test_png_is_a4_at_300_dpi_and_its_qr_code_scans_to_the_link(poster: dict[str, bytes]) -> None:
    image = Image.open(io.BytesIO(poster["png"]))
    assert image.size == (2480, 3508)
    assert decode(image) == [LINK]


def test_qr_code_embedded_in_the_pdf_scans_to_the_link(poster: dict[str, bytes]) -> None:
    images = PdfReader(io.BytesIO(poster["pdf"])).pages[0].images
    assert len(images) == 1
    assert decode(images[0].image) == [LINK]


def test_svg_is_well_formed_and_has_every_language(poster: dict[str, bytes]) -> None:
    root = ET.fromstring(poster["svg"])
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 210 297"
    texts = root.findall(f"{SVG}text")
    for lang, line in LINES:
        assert " ".join(t.text or "" for t in texts if t.get(XML_LANG) == lang) == line
    assert HEADING in [t.text for t in texts]
    assert root.find(f"{SVG}svg/{SVG}path") is not None  # the QR code


def test_svg_escapes_markup_in_texts() -> None:
    heading = 'Łódź <Centrum> & "Migranci"'
    root = ET.fromstring(render_poster(LINK, heading, LINES, "svg"))
    assert heading in [t.text for t in root.iter(f"{SVG}text")]


def test_long_texts_and_the_longest_link_stay_on_the_page() -> None:
    link = deep_link("A" * 32, "x" * 64)
    heading = "Gorzów Wielkopolski · Punkt Informacyjny dla Cudzoziemców i Centrum Wielokulturowe"
    lines = [(lang, f"{text} {text}") for lang, text in LINES]
    layout = _layout(link, heading, lines)
    for text in layout.texts:
        assert _width(text.text, text.size, text.bold) <= PAGE_W - 2 * MARGIN
        assert MARGIN <= text.y <= PAGE_H - MARGIN
    above = [t for t in layout.texts if t.y < layout.qr_y]
    below = [t for t in layout.texts if t.y > layout.qr_y + layout.qr_size]
    assert len(above) + len(below) == len(layout.texts)  # nothing is printed over the QR code
    assert layout.qr_size >= 100
    assert decode(Image.open(io.BytesIO(render_poster(link, heading, lines, "png")))) == [link]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        render_poster(LINK, HEADING, LINES, "jpg")


def test_deep_link_is_the_t_me_start_address() -> None:
    assert deep_link("@OpenCitiesAuditBot", "a" * 64) == (
        "https://t.me/OpenCitiesAuditBot?start=" + "a" * 64
    )
    assert deep_link("city_bot", "Krakow-2025_x") == "https://t.me/city_bot?start=Krakow-2025_x"


@pytest.mark.parametrize("payload", ["a" * 65, "krakow otwarty", "krakow/otwarty", "", "żółw"])
def test_deep_link_refuses_payloads_telegram_would_not_pass(payload: str) -> None:
    with pytest.raises(ValueError, match="payload"):
        deep_link("OpenCitiesAuditBot", payload)
