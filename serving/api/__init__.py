"""``complaints serve``: the JSON API for CRM and apps, and the operations dashboard, in one FastAPI app.

- ``/api/v1/...``: complaints by id and search (scope ``complaints``, ``complaints.py``); CRM events posted
  (scope ``write``) and read back, and response-SLA compliance (``crm.py``); the review queue (``review.py``:
  reading needs ``complaints``, claiming and resolving ``write``); volumes, live volumes,
  alerts, forecast, phrases, priority mix, the day's summary and the platform's health (scope ``aggregates``,
  ``aggregates.py``). Keys in ``X-API-Key`` or ``Authorization: Bearer``; 401 without a valid key, 403 without
  the scope (``dependencies.py``).
- ``/openapi.json``: the OpenAPI document with every response's model (``models.py``); public, so client
  generators can read it. ``/docs``: Swagger UI over it, served offline (``pages.py``); public, keys via Authorize.
- ``/dashboard``: the page (public; it holds no data and asks for a key, kept in the browser's storage);
  ``/review``: the review queue's page, the same way.
- ``/healthz``: liveness and what the warehouse holds (``pages.py``).
- ``/metrics``: the platform's health for Prometheus (``serving/metrics.py``); scope ``metrics`` when keys are on.

Bad parameters get 400 with the parameter and the problem, never a 500. The only writes are the CRM's events
(``complaint_events``) and reviewers' decisions (``reviews``), through the warehouse's committer.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving import queries
from serving.api import aggregates, complaints, crm, models, pages, review
from serving.auth import ApiKeys
from serving.health import RunManifests
from serving.metrics import platform_registry
from serving.warehouse import Warehouse, WarehouseError

LOG = logging.getLogger(__name__)
API_VERSION = "1.0.0"
ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
}


def create_app(
    warehouse: Warehouse,
    api_keys: ApiKeys,
    output_dir: Path | None = None,
    quality=None,
    alertmanager_url: str | None = None,
    sla=None,
) -> FastAPI:
    """The app over ``warehouse``; ``api_keys`` empty means no authentication (local use only). ``output_dir``
    (default: the warehouse's parent, as the pipelines lay it out) holds the run manifests and freshness records
    that ``/metrics`` and the health panel report; ``quality`` is the profile's ``[quality]`` section (default:
    the defaults); ``alertmanager_url``, when given, is where the health panel reads the open alerts; ``sla``
    is the profile's ``[sla]`` section (default: the defaults)."""
    from beam_pipelines.config import QualitySettings, SlaSettings

    app = FastAPI(
        title="Beejan complaints API",
        version=API_VERSION,
        docs_url=None,
        redoc_url=None,
        description="Curated customer complaints, volumes, alerts and forecasts from the Beejan "
        "complaint warehouse. Contact details appear only as tokens.",
        responses={code: {"model": models.ErrorBody} for code in (400, 401, 403, 503)},
    )
    app.state.warehouse, app.state.api_keys = warehouse, api_keys
    app.state.phrase_cache = aggregates.PhraseCache()
    app.state.output_dir = Path(output_dir) if output_dir else warehouse.root.parent
    app.state.quality, app.state.alertmanager_url = quality or QualitySettings(), alertmanager_url
    app.state.sla = sla or SlaSettings()
    app.state.run_manifests = RunManifests(app.state.output_dir / "_runs")
    app.state.metrics_registry, request_metrics = platform_registry(
        warehouse, app.state.output_dir, app.state.quality, app.state.run_manifests, app.state.sla
    )
    for router in (pages.router, complaints.router, aggregates.router, crm.router, review.router):
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, error: RequestValidationError):
        problems = [
            {
                "parameter": ".".join(str(part) for part in item["loc"][1:]) or str(item["loc"][0]),
                "problem": item["msg"],
            }
            for item in error.errors()
        ]
        return JSONResponse({"error": "bad_request", "detail": problems}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        return JSONResponse(
            {"error": ERRORS.get(error.status_code, "error"), "detail": error.detail},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(queries.BadCursor)
    async def bad_cursor(request: Request, error: queries.BadCursor):
        return JSONResponse(
            {"error": "bad_request", "detail": [{"parameter": "cursor", "problem": str(error)}]}, status_code=400
        )

    @app.exception_handler(WarehouseError)
    async def warehouse_unavailable(request: Request, error: WarehouseError):
        LOG.error("warehouse query failed: %s", error)
        return JSONResponse({"error": "warehouse_unavailable", "detail": str(error)}, status_code=503)

    @app.middleware("http")
    async def timing(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        response.headers["Server-Timing"] = f"app;dur={elapsed * 1000:.1f}"
        route = request.scope.get("route")  # the matched route's template: one series per route, not per id
        request_metrics.observe(getattr(route, "path", "unmatched"), request.method, response.status_code, elapsed)
        return response

    return app
