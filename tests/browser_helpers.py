"""Helpers shared by the browser tests (test_book, test_lab); not a test module."""
from __future__ import annotations

import shutil


def chromium() -> str | None:
    """Debian's chromium (or another Chromium on PATH) for the browser tests, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None

