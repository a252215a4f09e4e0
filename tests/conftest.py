"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

# Imported before any test runs, so that diffusers' log handler holds the real stderr, not the capture file
# of whichever test imported it first (later tests would then log into a closed file).
import diffusers  # noqa: F401
import pytest

from pixelart.models.registry import TINY_DIR_ENV
from stylize.nst.models import TINY_DIR_ENV as STYLIZE_TINY_DIR_ENV


@pytest.fixture(scope="session", autouse=True)
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh folder for tiny models (the diffusion back ends' and the style-transfer VGG's), shared
    by the whole session, so tests never touch ~/.cache."""
    folder = tmp_path_factory.mktemp("tiny-models")
    folders = {TINY_DIR_ENV: folder, STYLIZE_TINY_DIR_ENV: folder / "stylize"}
    previous = {name: os.environ.get(name) for name in folders}
    os.environ.update({name: str(path) for name, path in folders.items()})
    yield folder
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def vgg():
    """The tiny random VGG19 of the style-transfer tests, frozen."""
    from stylize.nst.vgg import tiny_vgg

    return tiny_vgg(seed=0).eval().requires_grad_(False)


@pytest.fixture()
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face hub cache: no real weights are found, whatever this machine holds."""
    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip GPU-marked tests where no CUDA device exists (CI and the 2-core project machines)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's package) under Playwright; a skip where it is missing, but a
    failure with REQUIRE_BROWSER=1 (CI), where the browser test must run."""
    from browser_support import CHROMIUM, FLAGS

    if CHROMIUM is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but no chromium executable was found (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); set REQUIRE_BROWSER=1 to fail instead")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture()
def page(browser):
    """A fresh page of the shared browser; the test fails if the page raised a JavaScript error."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, errors


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """The app served in-process on a free local port, for the browser tests."""
    from app import launch
    from ui.session import SessionStore

    sessions = SessionStore(tmp_path_factory.mktemp("browser-sessions"))
    demo, address = launch(sessions=sessions, prevent_thread_lock=True, quiet=True)
    yield address
    demo.close()
    sessions.close_all()
