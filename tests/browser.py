"""Real headless Chromium for the browser tests: where it is, how it is launched, where screenshots go."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
"""Screenshots, kept by CI as artifacts."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def chromium_or_skip() -> str:
    """The Chromium executable; skips the test (call it before the test's set-up) on a machine without one."""
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium executable (looked at $CHROMIUM_PATH, /usr/bin/chromium, chromium on PATH)")
    return executable


@asynccontextmanager
async def launched(executable: str) -> AsyncIterator[Browser]:
    """Headless Chromium with :data:`CHROMIUM_ARGS`, closed when the block ends (whatever ends it)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
