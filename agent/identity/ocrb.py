"""The MRZ reader's glyph templates, rendered once from the OCR-B font (blocking: run off the loop).

The font is Debian's `fonts-ocr-b` (public domain); tesseract's `text2image` renders the 37 MRZ
characters in one line and writes each glyph's box, from which `GlyphTemplates.from_sheet` cuts
the templates. A counter renders them at start (`[identity] mrz_font_dir`); the tests render MRZ
blocks the same way.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from agent.identity.mrz_reader import ALPHABET, GlyphTemplates

DEBIAN_FONT_DIR = Path("/usr/share/fonts/opentype/ocr-b")
Box = tuple[str, int, int, int, int]


def render(
    text: str, ptsize: int, font_dir: Path = DEBIAN_FONT_DIR
) -> tuple[npt.NDArray[np.uint8], list[Box]]:
    """`text` in OCR-B at `ptsize` and 300 dpi, and each glyph's box `(char, x0, y0, x1, y1)`
    (top-left origin). Raises OSError or subprocess errors when text2image or the font is
    missing."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "text.txt")
        source.write_text(text + "\n")
        base = Path(tmp, "out")
        subprocess.run(  # noqa: S603 - fixed program and arguments, no shell
            [  # noqa: S607 - text2image from the system's tesseract tools
                "text2image",
                f"--text={source}",
                f"--outputbase={base}",
                "--font=OCR B",
                f"--fonts_dir={font_dir}",
                f"--ptsize={ptsize}",
                "--degrade_image=false",
                "--xsize=4000",
                "--ysize=600",
                "--margin=30",
                "--resolution=300",
                "--leading=14",
            ],
            check=True,
            capture_output=True,
            timeout=60,
            cwd=tmp,  # text2image writes a fonts.conf into its working folder
        )
        image = cv2.imread(str(base) + ".tif", cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise OSError("text2image wrote no image")
        boxes = []
        height = image.shape[0]
        for line in Path(str(base) + ".box").read_text().splitlines():
            char, x0, y0, x1, y1, _ = line.split(" ")
            if char.strip():
                # box files count y from the bottom
                boxes.append((char, int(x0), height - int(y1), int(x1), height - int(y0)))
    return np.asarray(image, dtype=np.uint8), boxes


def load_templates(font_dir: Path = DEBIAN_FONT_DIR) -> GlyphTemplates:
    """The 37 MRZ glyph templates from the OCR-B font in `font_dir` (about a second)."""
    sheet, boxes = render(ALPHABET, 24, font_dir)
    if "".join(b[0] for b in boxes) != ALPHABET:
        raise OSError("text2image did not render the MRZ alphabet")
    return GlyphTemplates.from_sheet(sheet, boxes)
