"""AAMVA DL/ID card design standard (2020) PDF417 data, as read from the back of a licence.

Layout: compliance indicator `@`, data element separator LF, record separator RS (0x1E), segment
terminator CR, `ANSI ` (or `AAMVA`), issuer identification number (6 digits), AAMVA version (2),
jurisdiction version (2, from version 2), number of entries (2), then one designator per subfile
(type 2, offset 4, length 4). The `DL` or `ID` subfile holds elements `XXXvalue` separated by LF.
Used: `DCS` family name, `DAC` given name (`DCT` before version 4), `DBB` birth date, `DBA`
expiry date (`MMDDCCYY`, or `CCYYMMDD` when `DCG` is `CAN`), `DAJ` jurisdiction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from agent.identity.errors import IdDocumentError
from agent.identity.id_documents import IdDocument, IdDocumentKind

MAX_PDF417_BYTES = 4096
_HEADER = "@\n\x1e\r"
_RETRY_ANGLES = (0.0, 3.0, -3.0, 6.0, -6.0)


def parse_aamva(data: bytes) -> IdDocument:
    """Parse the PDF417 payload of an AAMVA licence or ID card; `IdDocumentError` otherwise."""
    if len(data) > MAX_PDF417_BYTES:
        raise IdDocumentError("AAMVA: payload over cap")
    text = data.decode("latin-1")  # any byte decodes: the header check below decides
    if not text.startswith(_HEADER) or text[4:9] not in ("ANSI ", "AAMVA"):
        raise IdDocumentError("AAMVA: no AAMVA header")
    elements = _elements(text)
    family = elements.get("DCS", "")
    given = elements.get("DAC") or elements.get("DCT", "")
    if not family or not given:
        raise IdDocumentError("AAMVA: names missing")
    canada = elements.get("DCG", "") == "CAN"
    return IdDocument(
        kind=IdDocumentKind.AAMVA,
        issuing_state=elements.get("DAJ", ""),
        given_names=given.replace(",", " ").strip(),
        family_name=family.strip(),
        birth_date=_date(elements.get("DBB", ""), canada=canada),
        expiry_date=_date(elements.get("DBA", ""), canada=canada),
        failed_checks=(),
    )


def _ascii_digits(text: str) -> bool:
    """`str.isdigit` says yes to `³` (a Latin-1 byte), which `int` refuses."""
    return text.isascii() and text.isdigit()


def _elements(text: str) -> dict[str, str]:
    body = text[9:]
    try:
        version = int(body[6:8])
        start = 12 if version >= 2 else 10
        entries = int(body[start - 2 : start])
        designators = [body[start + 10 * i : start + 10 * (i + 1)] for i in range(entries)]
    except ValueError as err:
        raise IdDocumentError("AAMVA: header numbers") from err
    for designator in designators:
        kind, offset, length = designator[:2], designator[2:6], designator[6:10]
        if kind not in ("DL", "ID") or not (_ascii_digits(offset) and _ascii_digits(length)):
            continue
        subfile = text[int(offset) : int(offset) + int(length)]
        if subfile.startswith(kind):
            return _fields(subfile[2:])
    raise IdDocumentError("AAMVA: no DL or ID subfile")


def _fields(subfile: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for raw in subfile.rstrip("\r").split("\n"):
        line = raw.strip("\r")
        if len(line) >= 3:
            fields.setdefault(line[:3], line[3:])
    return fields


def _date(text: str, *, canada: bool) -> date | None:
    if len(text) != 8 or not _ascii_digits(text):
        return None
    parts: tuple[Any, ...]
    parts = (text[:4], text[4:6], text[6:]) if canada else (text[4:], text[:2], text[2:4])
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def decode_pdf417(gray: Any) -> bytes | None:
    """The raw bytes of the first PDF417 symbol in a grayscale image (numpy array), or None.

    zxing-cpp reads PDF417 rows poorly once the card is tilted by more than a few degrees, so a
    miss is retried on the frame turned back by 3 and 6 degrees either way.
    """
    import cv2
    import zxingcpp

    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.PDF417)
    height, width = gray.shape[:2]
    for angle in _RETRY_ANGLES:
        image = gray
        if angle:
            turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
            image = cv2.warpAffine(gray, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)
        found = zxingcpp.read_barcodes(image, formats=formats, text_mode=zxingcpp.TextMode.Plain)
        if found:
            return bytes(found[0].bytes)
    return None
