"""Shared by the browser tests: Debian's Chromium under Playwright, and keeping screenshots.

Screenshots always go to ``test-artifacts/`` (git-ignored). The README's copies under
``assets/screenshots/`` are rewritten only when ``UPDATE_SCREENSHOTS=1``, so a test run never
changes the checkout.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
# without the background-networking flags Chromium keeps trying to reach Google's hosts
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def save_screenshot(page, name: str) -> Path:
    """Full-page screenshot to ``test-artifacts/NAME.png`` (and the README copy on request)."""
    artifact = ROOT / "test-artifacts" / f"{name}.png"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifact), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        readme_copy = ROOT / "assets" / "screenshots" / f"{name}.png"
        readme_copy.parent.mkdir(parents=True, exist_ok=True)
        # palette-reduced to keep the repository small
        Image.open(artifact).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(readme_copy, optimize=True)
    return artifact


def wait_text(page, elem_id: str, contains: str, timeout: int = 60_000) -> str:
    """The element's text, once it contains ``contains`` (a Playwright timeout error otherwise)."""
    page.wait_for_function("([id, t]) => (document.querySelector('#' + id)?.innerText || '').includes(t)",
                           arg=[elem_id, contains], timeout=timeout)
    return page.locator(f"#{elem_id}").inner_text()
