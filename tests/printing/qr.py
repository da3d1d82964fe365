"""Read a QR code's modules back from a printed PDF's image and compare them
with the code a payload makes: proves what the QR on paper says without a QR
decoder (the matrix of a payload at an error level is unique)."""

from __future__ import annotations

import segno
from pypdf import PdfReader


def qr_matches(pdf_path, payload: str, error: str = "m") -> bool:
    code = segno.make(payload, error=error)
    want = [[bool(v) for v in row] for row in code.matrix]
    n = len(want)
    for image in PdfReader(pdf_path).pages[0].images:
        gray = image.image.convert("L")
        w, h = gray.size
        dark = [(x, y) for y in range(h) for x in range(w) if gray.getpixel((x, y)) < 128]
        if not dark:
            continue
        x0, x1 = min(x for x, _ in dark), max(x for x, _ in dark)
        y0, y1 = min(y for _, y in dark), max(y for _, y in dark)
        step_x, step_y = (x1 - x0 + 1) / n, (y1 - y0 + 1) / n
        got = [[gray.getpixel((int(x0 + (c + 0.5) * step_x), int(y0 + (r + 0.5) * step_y))) < 128 for c in range(n)]
               for r in range(n)]
        if got == want:
            return True
    return False
