"""The FastAPI application: API routers, the page, static files, limits and error handling."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from . import __version__
from .api import errors
from .api.limits import Limits
from .api.page_routes import router as page_router
from .api.routes import router
from .presets import DEFAULT_PRESET, PRESETS

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
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(send, f"more than {self.max_bytes}")

    async def _refuse(self, send, size: str):
        from fastapi.responses import JSONResponse

        body = errors.error_body(413, "payload_too_large",
                                 f"request body is {size} bytes; this server accepts at most {self.max_bytes} (max_body_bytes)")
        await JSONResponse(body, status_code=413)({"type": "http"}, None, send)


class _TooLarge(Exception):
    pass


def create_app(limits: Limits | None = None) -> FastAPI:
    limits = limits or Limits.from_env()
    app = FastAPI(
        title="convviz",
        version=__version__,
        summary="Step-by-step traces of a 2-D convolution's forward and backward passes.",
        description=(
            "Send a problem (arrays, or shapes with a value kind and a seed); get the results and the tensors of "
            "MATH.md (`x_pad`, `grad_out_pad`, `w_rot`, im2col), or every step of a phase with its terms, as pages "
            "or as a JSON Lines stream. Errors: `{\"error\": {\"status\", \"code\", \"message\", \"loc\"}}`."
        ),
    )
    app.state.limits = limits
    errors.install(app)
    app.include_router(router)
    app.include_router(page_router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request):
        return templates.TemplateResponse(
            request, "index.html", {"version": __version__, "presets": PRESETS, "default_preset": DEFAULT_PRESET}
        )

    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    return app
