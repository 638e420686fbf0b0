"""The public routes: the dashboard page and its static files, the interactive API docs and the health check.

``/docs`` is Swagger UI over ``/openapi.json``, its JavaScript, CSS and icon served by the app itself from the
``fastapi-offline`` package (Swagger UI 5, which reads OpenAPI 3.1): nothing is fetched from the internet, so it
works on a closed network. Like the dashboard and the OpenAPI document it is public: it holds no data, and trying
an operation needs a key, given once with its Authorize button (``X-API-Key`` or bearer).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.api import models
from serving.api.dependencies import WarehouseDep, api_keys, scope
from serving.auth import ApiKeys

DASHBOARD_DIR = Path(__file__).resolve().parents[1] / "dashboard"

DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}

router = APIRouter()


def plotly_bundle() -> Path:
    """plotly.js as shipped inside the ``plotly`` package: the dashboard's charts, served locally."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def docs_asset(name: str) -> Path:
    """A Swagger UI file as shipped inside the ``fastapi-offline`` package."""
    return Path(str(resources.files("fastapi_offline") / "static" / name))


@router.get("/", include_in_schema=False)
def root():
    return RedirectResponse("/dashboard")


@router.get("/dashboard", include_in_schema=False)
def dashboard():
    return FileResponse(DASHBOARD_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/review", include_in_schema=False)
def review_page():
    """The review queue's page (public like the dashboard: it holds no data and asks for a key)."""
    return FileResponse(DASHBOARD_DIR / "review.html", headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}", include_in_schema=False)
def static(name: str):
    if name == "plotly.min.js":
        return FileResponse(plotly_bundle(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})
    if name in {"dashboard.js", "dashboard.css", "review.js"}:
        return FileResponse(DASHBOARD_DIR / name, headers={"Cache-Control": "no-cache"})
    raise HTTPException(404, "not found")


@router.get("/docs", include_in_schema=False)
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI over this app's OpenAPI document, every file of it from this server."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title}: interactive docs",
        swagger_js_url=f"{root}/static/docs/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/docs/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/docs/favicon.png",
        # no badge from the public validator: the page must not call out
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/static/docs/{name}", include_in_schema=False)
def docs_static(name: str):
    if name not in DOCS_ASSETS:
        raise HTTPException(404, "not found")
    return FileResponse(docs_asset(name), media_type=DOCS_ASSETS[name], headers={"Cache-Control": "max-age=86400"})


@router.get("/healthz", tags=["service"], response_model=models.Health, summary="Liveness and the warehouse's tables")
def health(warehouse: WarehouseDep, keys: Annotated[ApiKeys, Depends(api_keys)]):
    return {
        "status": "ok",
        "warehouse": warehouse.root.name,
        "tables": warehouse.file_counts(),
        "snapshots": dict(warehouse.snapshots),
        "unreadable_files": warehouse.unreadable_files(),
        "refused_tables": {name: str(why) for name, why in warehouse.refused.items()},
        "auth": "api-keys" if keys.enabled else "off",
    }


# Prometheus' own text format, for Prometheus rather than API clients: like the page, not in the OpenAPI document
@router.get("/metrics", include_in_schema=False, dependencies=[Depends(scope("metrics"))])
def metrics(request: Request):
    """API requests and latency, warehouse rows and snapshots, batch runs, channel freshness, the stream, the
    model's category mix and the profile's quality thresholds (``serving/metrics.py``)."""
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
