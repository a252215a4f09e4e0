"""Messages to the person: one line on the page next to what it is about, never a stack trace.

No toasts: they fade before they are read and cover the pictures; the message area keeps the text.

User errors are ``UserError``s whose text already says what was wrong and what to do. Anything
else is a bug: it is logged with its traceback on the server and shown as a short internal error, and
the server keeps serving either way.
"""

from __future__ import annotations

import logging

from workbench.errors import UserError

log = logging.getLogger("ui")


def describe(exc: BaseException, doing: str) -> str:
    """One line for the person; unexpected errors are logged in full."""
    if isinstance(exc, UserError):
        return " ".join(str(exc).split())
    log.error("unexpected error while %s", doing, exc_info=exc)
    return f"internal error while {doing} ({type(exc).__name__}); the server log has the details"


def warn(text: str) -> str:
    """``text`` as a warning in a message area's Markdown."""
    return f"⚠️ {text}"


def fail(exc: BaseException, doing: str) -> str:
    """An exception as a warning; returns the Markdown for the message area."""
    return warn(describe(exc, doing))
