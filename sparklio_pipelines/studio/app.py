"""The Studio's FastAPI app: pages for marketers, the REST API (`/api`, documented at `/docs`), media.

Settings (all from the environment, see `.env.example`): SPARKLIO_STUDIO_HOST / _PORT (where it binds),
SPARKLIO_STUDIO_URL (its public address, for links), SPARKLIO_DAGSTER_URL (the webserver it submits runs
to), SPARKLIO_WEBHOOK_URL / _SECRET (optional run notifications).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from sparklio_common.keys import UnsafeKeyError
from sparklio_pipelines.content.brief.schema import BriefError
from sparklio_pipelines.studio.auth import (
    SAFE_METHODS,
    CsrfRejected,
    LoginThrottle,
    NotAuthenticated,
    current_principal,
)
from sparklio_pipelines.studio.dagster_client import DagsterClient, DagsterUnavailable
from sparklio_pipelines.studio.errors import StudioError
from sparklio_pipelines.studio.service import Studio
from sparklio_pipelines.studio.store import StudioStore

HERE = Path(__file__).parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_BODY_BYTES = 3 * 15 * 1024 * 1024 + 1024 * 1024  # three 15 MB images and the form around them
PUBLIC_PATHS = ("/health", "/login", "/static/", "/docs-static/")
log = logging.getLogger("sparklio.studio")


def studio_from_env() -> Studio:
    from sparklio_pipelines.defs.resources import embedder_resource, resolved_resources
    from sparklio_pipelines.studio.store import PooledCampaignDatabase

    store = resolved_resources("object_store")[0]
    db = PooledCampaignDatabase(database_url=os.environ.get("DATABASE_URL", ""))
    return Studio(store=store, db=db, dagster=DagsterClient(), studio_db=StudioStore(db),
                  embedder_factory=embedder_resource)


def errors_body(problems: list[tuple[str, str]]) -> dict:
    return {"errors": [{"field": field, "message": message} for field, message in problems]}


def is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/media/")) or request.url.path == "/openapi.json"


def create_app(studio: Studio | None = None, *, webhooks: bool = True) -> FastAPI:
    app = FastAPI(title="Sparklio Studio", description="Campaigns, review and approvals for Sparklio.",
                  version="1", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = studio or studio_from_env()
    app.state.throttle = LoginThrottle()
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.public_url = (os.environ.get("SPARKLIO_STUDIO_URL") or "").rstrip("/")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _mount_docs(app)

    from sparklio_pipelines.studio import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)

    @app.middleware("http")
    async def cap_body(request: Request, call_next):
        if request.method not in SAFE_METHODS:
            length = request.headers.get("content-length")
            if length is None and request.headers.get("transfer-encoding"):
                return JSONResponse(errors_body([("(body)", "send a Content-Length")]), status_code=411)
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                message = f"the request is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB"
                return JSONResponse(errors_body([("(body)", message)]), status_code=413)
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.get("/health", include_in_schema=False)
    def health() -> dict:
        return {"status": "ok"}

    _add_error_handlers(app)
    if webhooks and os.environ.get("SPARKLIO_WEBHOOK_URL"):
        from sparklio_pipelines.studio.webhooks import WebhookNotifier

        notifier = WebhookNotifier.from_env(app.state.studio)
        app.add_event_handler("startup", notifier.start)
        app.add_event_handler("shutdown", notifier.stop)
    return app


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI from the `swagger-ui-bundle` package: served by the app, no CDN."""
    import swagger_ui_bundle

    app.mount("/docs-static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        await current_principal(request)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        await current_principal(request)
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Sparklio Studio API",
                                   swagger_js_url="/docs-static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-static/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated):
        if is_api(request):
            return JSONResponse({"detail": f"Not signed in: {exc}"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected):
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(StudioError)
    async def studio_error(request: Request, exc: StudioError):
        return JSONResponse(errors_body(exc.problems), status_code=exc.status)

    @app.exception_handler(BriefError)
    async def brief_error(request: Request, exc: BriefError):
        return JSONResponse(errors_body(exc.problems), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError):
        problems = [(".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")) or "(body)",
                     str(e.get("msg", "is invalid"))) for e in exc.errors()]
        return JSONResponse(errors_body(problems), status_code=422)

    @app.exception_handler(UnsafeKeyError)
    async def unsafe_key(request: Request, exc: UnsafeKeyError):
        return JSONResponse({"detail": "Not found"}, status_code=404)

    @app.exception_handler(DagsterUnavailable)
    async def dagster_down(request: Request, exc: DagsterUnavailable):
        return _service_down(request, f"Dagster: {exc}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if is_api(request) or exc.status_code != 404:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return _page_message(request, "Not found", "There is nothing at this address.", 404)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        from resources.database import DatabaseError
        from resources.object_store import ObjectStoreError

        if isinstance(exc, (DatabaseError, ObjectStoreError)):
            return _service_down(request, str(exc))
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _service_down(request, "something went wrong; the error was logged for the team", status=500)


def _service_down(request: Request, message: str, status: int = 503) -> Response:
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=status)
    return _page_message(request, "Unavailable", message, status)


def _page_message(request: Request, title: str, message: str, status: int) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, "message.html", {"title": title, "message": message, "user": None}, status_code=status)
