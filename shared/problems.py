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


class InsufficientUserAuthentication(Unauthorized):
    """The token is good, but its sign-in (`auth_time`) is older than a signature allows: the caller
    must authenticate again, at most `max_age` seconds before signing (RFC 9470 step-up)."""

    def __init__(self, detail: str, *, max_age: int) -> None:
        super().__init__(detail, max_age=max_age)
        self.max_age = max_age


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
