"""What every tab's handlers share: finding the caller's session, releasing it, the crisp display of
pixel art, and the event options of light (non-GPU) events."""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from workbench.export import upscale, upscale_factor
from ui.session import Session, SessionStore

LIGHT = dict(concurrency_limit=None)  # scrubbing, labelling and friends never wait behind each other
UPLOAD_HEIGHT = 150  # upload boxes: tall enough for the icon and "Click to Upload" (90-110 px clipped them)
DISPLAY_LONG_SIDE = 512  # pixel art is shown upscaled with nearest neighbour to at least this size


class SessionActions:
    """Base of each tab's handlers: the app's session store and whether server folders may be typed."""

    def __init__(self, sessions: SessionStore, *, server_folders: bool = False) -> None:
        self.sessions = sessions
        self.server_folders = server_folders

    def session(self, request: gr.Request | None) -> Session:
        """The caller's session."""
        return self.sessions.get(getattr(request, "session_hash", None))

    def release(self, request: gr.Request) -> None:
        """The page went away (``demo.unload``, one for every tab): its files go unless it reconnects
        soon (see ``SessionStore``)."""
        self.sessions.release(getattr(request, "session_hash", None))


def crisp(pixels: np.ndarray, long_side: int = DISPLAY_LONG_SIDE) -> np.ndarray:
    """Pixel art (indices or RGB) upscaled with nearest neighbour so that its long side reaches
    ``long_side``: every pixel stays a sharp square (the engine's own ``upscale``)."""
    return upscale(pixels, upscale_factor(pixels.shape[:2], long_side))


def crisp_image(indices: np.ndarray, palette: np.ndarray, long_side: int = DISPLAY_LONG_SIDE) -> Image.Image:
    """Palette indices as a crisp, upscaled palette ("P") image.

    A palette image moves one byte per pixel instead of three and its PNG encodes in a third of the
    time of an RGB one, which is most of what a scrub costs.
    """
    big = np.ascontiguousarray(crisp(np.asarray(indices, dtype=np.uint8), long_side))
    image = Image.frombytes("P", big.shape[::-1], big.tobytes())
    image.putpalette(np.asarray(palette, dtype=np.uint8).tobytes())
    return image
