"""The public routes: the dashboard page and its static files, and the health check."""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.api import models
from serving.api.dependencies import WarehouseDep, api_keys, scope
from serving.auth import ApiKeys

DASHBOARD_DIR = Path(__file__).resolve().parents[1] / "dashboard"

router = APIRouter()


def plotly_bundle() -> Path:
    """plotly.js as shipped inside the ``plotly`` package: the dashboard's charts, served locally."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


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
        return FileResponse(plotly_bundle(), media_type="text/javascript",
                            headers={"Cache-Control": "max-age=86400"})
    if name in {"dashboard.js", "dashboard.css", "review.js"}:
        return FileResponse(DASHBOARD_DIR / name, headers={"Cache-Control": "no-cache"})
    raise HTTPException(404, "not found")


@router.get("/healthz", tags=["service"], response_model=models.Health,
            summary="Liveness and the warehouse's tables")
def health(warehouse: WarehouseDep, keys: Annotated[ApiKeys, Depends(api_keys)]):
    return {"status": "ok", "warehouse": warehouse.root.name, "tables": warehouse.file_counts(),
            "snapshots": dict(warehouse.snapshots),
            "unreadable_files": warehouse.unreadable_files(),
            "refused_tables": {name: str(why) for name, why in warehouse.refused.items()},
            "auth": "api-keys" if keys.enabled else "off"}


# Prometheus' own text format, for Prometheus rather than API clients: like the page, not in the OpenAPI document
@router.get("/metrics", include_in_schema=False, dependencies=[Depends(scope("metrics"))])
def metrics(request: Request):
    """API requests and latency, warehouse rows and snapshots, batch runs, channel freshness, the stream, the
    model's category mix and the profile's quality thresholds (``serving/metrics.py``)."""
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
