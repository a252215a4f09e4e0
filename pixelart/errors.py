"""User-facing errors of the pixel-art engine.

Every error raised for a bad input or a missing resource is a ``PixelArtError`` whose message is one
line saying what was wrong and what to do, so that the CLI can print it without a stack trace and the
app can show it in a notification while the server keeps serving.
"""


class PixelArtError(Exception):
    """Base class: a problem the user can fix, with a one-line explanation."""


class ImageInputError(PixelArtError, ValueError):
    """The photo cannot be used (unreadable, truncated, too small, too large, ...)."""


class PaletteError(PixelArtError, ValueError):
    """A palette file or palette request is invalid."""


class ConfigError(PixelArtError, ValueError):
    """A run option is out of range or inconsistent."""


class ModelNotAvailableError(PixelArtError, OSError):
    """Model weights are neither cached locally nor downloadable from here."""

    def __init__(self, name: str, repo_id: str, reason: str = "") -> None:
        self.name = name
        self.repo_id = repo_id
        hint = (
            f"model '{name}' ({repo_id}) is not in the local Hugging Face cache and could not be "
            f"downloaded{': ' + reason if reason else ''}. On a machine with internet run "
            f"`hf download {repo_id}` (or `python -m pixelart download {name}`) and copy the cache "
            "(HF_HOME) here, or pass a local directory; use --model tiny to try the app without weights."
        )
        super().__init__(hint)


class BundleError(PixelArtError, ValueError):
    """A trajectory bundle is unreadable or not a bundle."""
