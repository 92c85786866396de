"""The one error shape every 4xx uses, and the handlers that produce it.

    {"error": {"status": 422, "code": "invalid_problem", "message": "...", "loc": ["body", "x"]}}
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..problem import ProblemError


def problem_loc(exc: ProblemError) -> list:
    """Where in the request a ``ProblemError`` points: a query parameter or the body (a field of it)."""
    if exc.param:
        return ["query", exc.param]
    return ["body", exc.field] if exc.field else ["body"]


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
    @app.exception_handler(ProblemError)
    async def _problem_error(request: Request, exc: ProblemError):
        return JSONResponse(error_body(422, exc.code, exc.message, problem_loc(exc)), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        bad_json = next((e for e in errs if e.get("type") == "json_invalid"), None)
        if bad_json is not None:
            doc = exc.body if isinstance(exc.body, str) else ""
            reason = (bad_json.get("ctx") or {}).get("error", "JSON decode error")
            message = (f"the request body is not valid JSON: {reason} at character {bad_json['loc'][-1]} "
                       f"(received {len(doc.encode())} bytes starting {_short(doc, 60)})")
            return JSONResponse(error_body(422, "invalid_json", message, ["body"]), status_code=422)
        if [tuple(e.get("loc", ())) for e in errs] == [("body",)] and errs[0].get("type") == "missing":
            message = ("the request body is empty; send a problem as a JSON object, e.g. "
                       '{"x": [[1, 2], [3, 4]], "w": [[1]]} (schema: /docs)')
            return JSONResponse(error_body(422, "invalid_request", message, ["body"]), status_code=422)
        message, loc = _validation_message(exc)
        return JSONResponse(error_body(422, "invalid_request", message, loc), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = STATUS_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            detail = f"no such path: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
        elif exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "There was an error parsing the body": say what arrived and why it failed.
            cause = exc.__cause__
            why = "it is nested too deeply" if isinstance(cause, RecursionError) else f"{type(cause).__name__}: {_short(str(cause), 120)}"
            detail = (f"could not read the request body as JSON ({why}); received "
                      f"{request.headers.get('content-length', 'an unknown number of')} bytes of "
                      f"{request.headers.get('content-type', 'no declared content type')!r}")
        loc = ["body"] if exc.status_code in (400, 413) else []
        return JSONResponse(error_body(exc.status_code, code, detail, loc), status_code=exc.status_code,
                            headers=exc.headers)
