"""Messages to the person: one line in the tab's message area and a toast, never a stack trace.

User errors are ``UserError``s whose text already says what was wrong and what to do. Anything
else is a bug: it is logged with its traceback on the server and shown as a short internal error, and
the server keeps serving either way.
"""

from __future__ import annotations

import logging

import gradio as gr

from workbench.errors import UserError

log = logging.getLogger("ui")


def describe(exc: BaseException, doing: str) -> str:
    """One line for the person; unexpected errors are logged in full."""
    if isinstance(exc, UserError):
        return " ".join(str(exc).split())
    log.error("unexpected error while %s", doing, exc_info=exc)
    return f"internal error while {doing} ({type(exc).__name__}); the server log has the details"


def warn(text: str) -> str:
    """Show ``text`` as a warning toast and return it as the message area's Markdown."""
    gr.Warning(text)
    return f"⚠️ {text}"


def fail(exc: BaseException, doing: str) -> str:
    """Warn about an exception; returns the Markdown for the message area."""
    return warn(describe(exc, doing))
