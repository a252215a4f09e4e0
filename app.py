"""Serve the workbench: ``python app.py [--port N] [--host ADDR] [--share]``.

The port is ``--port``, else $PORT, else $GRADIO_SERVER_PORT, else 7860; the host is ``--host``, else
$GRADIO_SERVER_NAME, else 127.0.0.1 (use 0.0.0.0 to serve other machines). On Hugging Face Spaces
this file is the ``app_file``; the Space sets the host and port itself.

Typing folders on the server (Annotate and Evaluate tabs) is on only when the app serves this machine
alone: bound to a loopback address and not shared. ``PIXELART_SERVER_FOLDERS=1`` or ``=0`` decides
instead (see ``ui.bundle_set.server_folders_default``).
"""

from __future__ import annotations

import argparse
import gc
import os
from typing import Any, Sequence

import gradio as gr

from ui import build_demo, launch_options
from ui.bundle_set import server_folders_default
from ui.session import SessionStore

DEFAULT_PORT = 7860


def default_port() -> int:
    """$PORT, else $GRADIO_SERVER_PORT, else 7860."""
    for var in ("PORT", "GRADIO_SERVER_PORT"):
        if os.environ.get(var, "").strip():
            return int(os.environ[var])
    return DEFAULT_PORT


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Stylization workbench (Gradio app): pixel art, style transfer, face to body")
    parser.add_argument("--port", type=int, default=None, help=f"port to serve on (default $PORT, "
                        f"$GRADIO_SERVER_PORT or {DEFAULT_PORT})")
    parser.add_argument("--host", default=None, help="address to bind (default $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    return parser.parse_args(argv)


def launch(
    *, port: int | None = None, host: str | None = None, share: bool = False, sessions: SessionStore | None = None,
    **options: Any,
) -> tuple[gr.Blocks, str]:
    """Build the app and start serving it; returns the Blocks and its local URL.

    ``port=None`` takes the first free port from 7860 up (tests); extra ``options`` go to
    ``Blocks.launch`` (e.g. ``prevent_thread_lock=True`` to return at once).
    """
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"  # what gradio would bind
    demo = build_demo(sessions, server_folders=server_folders_default(host, share))
    # Everything imported so far lives as long as the process; frozen out of the garbage collector,
    # a full collection takes ~1 ms instead of ~200 ms that would otherwise stall a slider update.
    gc.freeze()
    _, url, _ = demo.launch(server_name=host, server_port=port, share=share, **launch_options(), **options)
    return demo, url


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the app until interrupted."""
    args = parse_args(argv)
    launch(port=args.port or default_port(), host=args.host, share=args.share)


if __name__ == "__main__":
    main()
