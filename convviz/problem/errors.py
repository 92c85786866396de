"""The problem service's one error: what was wrong with a problem or a request for it.

It knows no HTTP: ``convviz.api`` maps it to a 422 answer, the CLI to a message and exit 2.
"""

from __future__ import annotations


class ProblemError(ValueError):
    """``code``: invalid_problem, limit_exceeded, overflow, invalid_query; ``message``: what was
    received and what is allowed; ``field``: the problem field at fault (``x``, ``stride``, ...);
    ``param``: the request parameter at fault (``start``, ``limit``, ``n``, ...)."""

    def __init__(self, code: str, message: str, *, field: str | None = None, param: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field, self.param = code, message, field, param
