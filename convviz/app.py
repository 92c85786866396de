"""The FastAPI application: API routers, the page, static files, limits and error handling."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .api import errors
from .api.check_routes import router as check_router
from .api.export_routes import FormProblem
from .api.export_routes import router as export_router
from .api.page_routes import router as page_router
from .api.routes import router
from .problem import DEFAULT_PRESET, PRESETS, Limits, SolvedCache

HERE = Path(__file__).parent


class BodyLimit:
    """ASGI middleware: refuse a request body over ``max_bytes`` with 413, before it is parsed."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(send, declared.decode(errors="replace"))
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing (any other exception
                    # there becomes a 400) and is rendered by the error handlers.
                    raise StarletteHTTPException(413, _too_large(f"more than {self.max_bytes}", self.max_bytes))
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send, size: str):
        from fastapi.responses import JSONResponse

        body = errors.error_body(413, "payload_too_large", _too_large(size, self.max_bytes))
        await JSONResponse(body, status_code=413)({"type": "http"}, None, send)


def _too_large(size: str, max_bytes: int) -> str:
    return f"request body is {size} bytes; this server accepts at most {max_bytes:,} (max_body_bytes)"


# The page is ES modules from /static and JSON from /api: nothing inline, no other origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# /docs runs the shipped Swagger UI, whose React components set inline style attributes.
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


class SecurityHeaders:
    """ASGI middleware: ``X-Content-Type-Options: nosniff`` on every response, and the
    Content-Security-Policy on every response (a little looser on styles for /docs)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = DOCS_CONTENT_SECURITY_POLICY if scope.get("path") == "/docs" else CONTENT_SECURITY_POLICY

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"x-content-type-options", b"content-security-policy")]
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"content-security-policy", policy.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cors_origins_from_env(environ=None) -> list[str]:
    """``CONVVIZ_CORS_ORIGINS``: comma-separated origins allowed to call the API from a browser."""
    environ = os.environ if environ is None else environ
    return [o.strip() for o in environ.get("CONVVIZ_CORS_ORIGINS", "").split(",") if o.strip()]


def create_app(limits: Limits | None = None, cors_origins: list[str] | None = None) -> FastAPI:
    """The app; ``cors_origins`` None means ``CONVVIZ_CORS_ORIGINS`` (default: no CORS at all)."""
    limits = limits or Limits.from_env()
    cors_origins = cors_origins_from_env() if cors_origins is None else cors_origins
    app = FastAPI(
        title="convviz",
        version=__version__,
        summary="Step-by-step traces of a 2-D convolution's forward and backward passes.",
        description=(
            "Send a problem (arrays, or shapes with a value kind and a seed); get the results and the tensors of "
            "the conventions (`x_pad`, `grad_out_pad`, `w_rot`, im2col), or every step of a phase with its terms, as pages "
            "or as a JSON Lines stream. Errors: `{\"error\": {\"status\", \"code\", \"message\", \"loc\"}}`."
        ),
        docs_url=None,  # served below from the package's own copy of Swagger UI (works offline)
        redoc_url=None,
    )
    app.state.limits = limits
    app.state.solved = SolvedCache(limits.cache_bytes) if limits.cache_bytes else None
    app.state.limiters = {}  # worker-thread limiters by name, made on first use (api/deps.py)
    errors.install(app)
    app.include_router(router)
    app.include_router(page_router)
    app.include_router(check_router)
    app.include_router(export_router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request):
        return templates.TemplateResponse(
            request, "index.html", {"version": __version__, "presets": PRESETS, "default_preset": DEFAULT_PRESET}
        )

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request):
        return templates.TemplateResponse(request, "docs.html", {"version": __version__})

    app.add_middleware(FormProblem)  # the page's download forms; inside BodyLimit, which counts their bytes
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    if cors_origins:  # off unless asked for: other sites' scripts cannot read the API
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["content-type"])
    app.add_middleware(SecurityHeaders)
    return app
