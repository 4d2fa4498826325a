"""What a rule or a use case refuses, as plain exceptions: no framework, no HTTP. Domain modules
raise them; the API answers each kind with its problem+json status (shared/errors.py)."""

from typing import Any


class Problem(Exception):
    """A refusal with a human-readable `detail` and optional extension members for the answer."""

    title: str | None = None

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class BadRequest(Problem):
    """The request cannot be understood."""


class Unauthorized(Problem):
    """No valid credentials."""


class Forbidden(Problem):
    """The caller's role or scope does not allow this."""


class NotFound(Problem):
    """No such thing (or none the caller may see)."""


class Conflict(Problem):
    """The current state does not allow this."""


class PreconditionFailed(Problem):
    """The thing changed since the caller read it."""


class PreconditionRequired(Problem):
    """The caller must say which version it read."""


class Unprocessable(Problem):
    """Well-formed, but breaks a rule."""
