"""The one error shape every 4xx uses, and the handlers that produce it.

    {"error": {"status": 422, "code": "invalid_problem", "message": "...", "loc": ["body", "x"]}}
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """A client error: ``status`` 4xx, a stable ``code`` and a message saying what was received."""

    def __init__(self, status: int, code: str, message: str, loc: list | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.loc = status, code, message, loc or []


def error_body(status: int, code: str, message: str, loc: list | None = None) -> dict:
    return {"error": {"status": status, "code": code, "message": message, "loc": loc or []}}


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validation_message(exc: RequestValidationError) -> tuple[str, list]:
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = list(first.get("loc", []))
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", []) if p != "body") or "body"
        received = f" (received {_short(err['input'])})" if "input" in err and err.get("type") != "missing" else ""
        parts.append(f"{where}: {err.get('msg', 'invalid')}{received}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more, loc


STATUS_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(error_body(exc.status, exc.code, exc.message, exc.loc), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        message, loc = _validation_message(exc)
        code = "invalid_json" if any(e.get("type") == "json_invalid" for e in exc.errors()) else "invalid_request"
        return JSONResponse(error_body(422, code, message, loc), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            detail = f"no such path: {request.method} {request.url.path}"
        return JSONResponse(error_body(exc.status_code, code, detail), status_code=exc.status_code, headers=exc.headers)
