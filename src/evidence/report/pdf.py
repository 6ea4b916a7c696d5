"""Print the single file to PDF with headless Chromium (Debian's package)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from evidence import atomic
from evidence.errors import EvidenceError

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--hide-scrollbars"]


def chromium() -> str | None:
    """The headless browser used for the PDF and the browser tests, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def to_pdf(report: Path, pdf: Path) -> Path:
    """``report`` printed as ``pdf`` (A4 landscape from the print styles, headings as outline)."""
    browser = chromium()
    if browser is None:
        raise EvidenceError("PDF needs Chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile, atomic.replacing(pdf, suffix=".pdf") as tmp:
        proc = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               "--no-pdf-header-footer", "--generate-pdf-document-outline",
                               f"--print-to-pdf={tmp}", Path(report).resolve().as_uri()],
                              capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0 or not tmp.exists() or tmp.read_bytes()[:5] != b"%PDF-":
            raise EvidenceError(f"Chromium did not print {report} to PDF: {proc.stderr[-500:]}")
    return pdf
