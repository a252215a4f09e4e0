"""User-facing errors of every back end.

Every error raised for a bad input or a missing resource is a ``UserError`` whose message is one line
saying what was wrong and what to do, so that a CLI prints it without a stack trace and the app shows
it on the page while the server keeps serving.
"""


class UserError(Exception):
    """Base class: a problem the user can fix, with a one-line explanation."""


class ImageInputError(UserError, ValueError):
    """An image cannot be used (unreadable, truncated, too small, too large, ...)."""


class PaletteError(UserError, ValueError):
    """A palette file or palette request is invalid."""


class ConfigError(UserError, ValueError):
    """A run option is out of range or inconsistent."""


class ModelNotAvailableError(UserError, OSError):
    """Model weights are neither cached locally nor downloadable from here.

    ``package`` names the command line that fetches them (``python -m PACKAGE download NAME``) and
    ``tiny_hint`` how to try the back end without weights; both differ per back end.
    """

    def __init__(self, name: str, repo_id: str, reason: str = "", *, package: str = "pixelart",
                 tiny_hint: str = "use --model tiny to try the app without weights") -> None:
        self.name = name
        self.repo_id = repo_id
        self.package = package
        hint = (
            f"model '{name}' ({repo_id}) is not in the local Hugging Face cache and could not be "
            f"downloaded{': ' + reason if reason else ''}. On a machine with internet run "
            f"`hf download {repo_id}` (or `python -m {package} download {name}`) and copy the cache "
            f"(HF_HOME) here, or pass a local directory; {tiny_hint}."
        )
        super().__init__(hint)


class BundleError(UserError, ValueError):
    """A trajectory bundle is unreadable or not a bundle."""
