"""``complaints serve``: the JSON API for CRM and apps, and the operations dashboard, in one FastAPI app.

- ``/api/v1/...``: complaints by id and search (scope ``complaints``); volumes, live volumes, alerts, forecast,
  phrases, priority mix and the day's summary (scope ``aggregates``). Keys in ``X-API-Key`` or
  ``Authorization: Bearer``; 401 without a valid key, 403 without the scope.
- ``/openapi.json``: the OpenAPI document (public, so client generators can read it).
- ``/dashboard``: the page (public; it holds no data and asks for a key, kept in the browser's storage).
- ``/healthz``: liveness and what the warehouse holds.

Bad parameters get 400 with the parameter and the problem, never a 500. Nothing here writes to the warehouse.
"""

import datetime as dt
import logging
import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi import Path as PathParameter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving import phrases as phrase_ranking
from serving import queries
from serving.auth import ApiKeys, Client
from serving.warehouse import Warehouse, WarehouseError
from models.base import CATEGORIES, PRIORITIES, SENTIMENT_LABELS

LOG = logging.getLogger(__name__)
API_VERSION = "1.0.0"
DASHBOARD_DIR = Path(__file__).parent / "dashboard"

Category = Literal[CATEGORIES]
Source = Literal["twitter", "webform", "sms", "phone"]
Priority = Literal[PRIORITIES]
Sentiment = Literal[SENTIMENT_LABELS]


EARLIEST, LATEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2999, 12, 31, tzinfo=dt.timezone.utc)


def checked_time(name: str, value: dt.datetime | None) -> dt.datetime | None:
    """A time parameter in UTC (naive means UTC), or 400 when it is outside 1970..2999."""
    if value is None:
        return None
    try:
        moment = queries.as_utc(value)
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise HTTPException(400, f"{name} must be a time between 1970 and 2999")
    return moment


def checked_range(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    start, end = checked_time("start", start), checked_time("end", end)
    if start and end and start >= end:
        raise HTTPException(400, "start must be before end")
    return start, end


def plotly_bundle() -> Path:
    """plotly.js as shipped inside the ``plotly`` package: the dashboard's charts, served locally."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


class _PhraseCache:
    """Top phrases are costly (a vectoriser over thousands of texts): the last answer is kept until the
    warehouse changes or other parameters are asked for."""

    def __init__(self):
        self._key, self._phrases = None, None

    def get(self, warehouse: Warehouse, days: int, top: int) -> dict:
        warehouse.refresh()
        key = (warehouse.version, days, top)
        if key != self._key:
            texts = queries.texts_by_category(warehouse, days, per_category=4000)
            self._key, self._phrases = key, phrase_ranking.distinctive_phrases(texts, top=top)
        return self._phrases


def create_app(warehouse: Warehouse, api_keys: ApiKeys) -> FastAPI:
    """The app over ``warehouse``; ``api_keys`` empty means no authentication (local use only)."""
    app = FastAPI(title="Beejan complaints API", version=API_VERSION, docs_url=None, redoc_url=None,
                  description="Curated customer complaints, volumes, alerts and forecasts from the Beejan "
                              "complaint warehouse. Contact details appear only as tokens.")
    header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from the key file.")
    bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")
    phrase_cache = _PhraseCache()

    # The key checks are async: they do no I/O, so they need not run in the thread pool.
    async def client(key: Annotated[str | None, Security(header_key)] = None,
               token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None) -> Client | None:
        if not api_keys.enabled:
            return None
        found = api_keys.client_for(key or (token.credentials if token else None))
        if found is None:
            raise HTTPException(401, "a valid API key is required (X-API-Key header or Authorization: Bearer)",
                                headers={"WWW-Authenticate": "Bearer"})
        return found

    def needs(scope: str):
        async def check(found: Annotated[Client | None, Depends(client)]) -> Client | None:
            if found is not None and scope not in found.scopes:
                raise HTTPException(403, f"this API key ({found.name}) does not have the '{scope}' scope")
            return found
        return check

    read_complaints = [Depends(needs("complaints"))]
    read_aggregates = [Depends(needs("aggregates"))]

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, error: RequestValidationError):
        problems = [{"parameter": ".".join(str(part) for part in item["loc"][1:]) or str(item["loc"][0]),
                     "problem": item["msg"]} for item in error.errors()]
        return JSONResponse({"error": "bad_request", "detail": problems}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        kinds = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed"}
        return JSONResponse({"error": kinds.get(error.status_code, "error"), "detail": error.detail},
                            status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(queries.BadCursor)
    async def bad_cursor(request: Request, error: queries.BadCursor):
        return JSONResponse({"error": "bad_request", "detail": [{"parameter": "cursor", "problem": str(error)}]},
                            status_code=400)

    @app.exception_handler(WarehouseError)
    async def warehouse_unavailable(request: Request, error: WarehouseError):
        LOG.error("warehouse query failed: %s", error)
        return JSONResponse({"error": "warehouse_unavailable", "detail": str(error)}, status_code=503)

    @app.middleware("http")
    async def timing(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    # -- public --------------------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/dashboard")

    @app.get("/dashboard", include_in_schema=False)
    def dashboard():
        return FileResponse(DASHBOARD_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name == "plotly.min.js":
            return FileResponse(plotly_bundle(), media_type="text/javascript",
                                headers={"Cache-Control": "max-age=86400"})
        if name in {"dashboard.js", "dashboard.css"}:
            return FileResponse(DASHBOARD_DIR / name, headers={"Cache-Control": "no-cache"})
        raise HTTPException(404, "not found")

    @app.get("/healthz", tags=["service"], summary="Liveness and the warehouse's tables")
    def health():
        return {"status": "ok", "warehouse": str(warehouse.root),
                "tables": warehouse.file_counts(),
                "auth": "api-keys" if api_keys.enabled else "off"}

    # -- complaints ------------------------------------------------------------------------------------------------
    @app.get("/api/v1/complaints/{complaint_id}", tags=["complaints"], dependencies=read_complaints,
             summary="One complaint by its complaint_id")
    def complaint(complaint_id: Annotated[str, PathParameter(min_length=1, max_length=64)]):
        found = queries.get_complaint(warehouse, complaint_id)
        if found is None:
            raise HTTPException(404, f"no complaint {complaint_id}")
        return found

    @app.get("/api/v1/complaints", tags=["complaints"], dependencies=read_complaints,
             summary="Search complaints, newest first, with cursor pagination")
    def search(start: Annotated[dt.datetime | None, Query(description="event_time >= start (ISO 8601)")] = None,
               end: Annotated[dt.datetime | None, Query(description="event_time < end (ISO 8601)")] = None,
               source: Annotated[list[Source] | None, Query(description="repeat for several")] = None,
               category: Annotated[list[Category] | None, Query()] = None,
               priority: Annotated[list[Priority] | None, Query()] = None,
               customer_id: Annotated[str | None, Query(max_length=64)] = None,
               region: Annotated[str | None, Query(max_length=64)] = None,
               flag: Annotated[str | None, Query(max_length=64, description="e.g. unknown_customer")] = None,
               route_queue: Annotated[str | None, Query(max_length=64)] = None,
               sentiment: Annotated[Sentiment | None, Query()] = None,
               q: Annotated[str | None, Query(max_length=200, description="text contains (case-insensitive)")] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50,
               cursor: Annotated[str | None, Query(max_length=300, description="next_cursor of the previous page")] = None):
        start, end = checked_range(start, end)
        filters = queries.SearchFilters(start=start, end=end, sources=tuple(source or ()),
                                        categories=tuple(category or ()), priorities=tuple(priority or ()),
                                        customer_id=customer_id, region=region, flag=flag,
                                        route_queue=route_queue, sentiment=sentiment, text=q)
        return queries.search_complaints(warehouse, filters, limit, cursor)

    # -- aggregates ------------------------------------------------------------------------------------------------
    @app.get("/api/v1/summary", tags=["aggregates"], dependencies=read_aggregates,
             summary="Today's headline figures against the previous seven days")
    def summary():
        return queries.summary(warehouse)

    @app.get("/api/v1/volumes", tags=["aggregates"], dependencies=read_aggregates,
             summary="Complaints per hour or day, optionally by category, channel, priority, region or sentiment")
    def volumes(granularity: Annotated[Literal["hour", "day"], Query()] = "day",
                by: Annotated[Literal["none", "category", "source", "priority", "region", "sentiment"], Query()] = "none",
                start: Annotated[dt.datetime | None, Query()] = None,
                end: Annotated[dt.datetime | None, Query()] = None):
        start, end = checked_range(start, end)
        if start and end and granularity == "hour" and end - start > dt.timedelta(days=62):
            raise HTTPException(400, "hourly volumes cover at most 62 days; use granularity=day")
        return queries.volumes(warehouse, granularity, by, start, end)

    @app.get("/api/v1/volumes/live", tags=["aggregates"], dependencies=read_aggregates,
             summary="Per-minute volumes from the streaming job's aggregates")
    def live(minutes: Annotated[int, Query(ge=1, le=1440)] = 120):
        return queries.live_volumes(warehouse, minutes)

    @app.get("/api/v1/alerts", tags=["aggregates"], dependencies=read_aggregates,
             summary="Volume-spike alerts, newest first (default: the last 24 hours)")
    def alerts(since: Annotated[dt.datetime | None, Query()] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100):
        return queries.alerts(warehouse, checked_time("since", since), limit)

    @app.get("/api/v1/forecast", tags=["aggregates"], dependencies=read_aggregates,
             summary="The latest daily forecast with recent actuals and its backtest")
    def forecast(category: Annotated[Category | None, Query()] = None,
                 source: Annotated[Source | None, Query()] = None,
                 history_days: Annotated[int, Query(ge=1, le=365)] = 28):
        return queries.forecast(warehouse, category, source, history_days)

    @app.get("/api/v1/phrases", tags=["aggregates"], dependencies=read_aggregates,
             summary="The phrases most typical of each category's recent complaints")
    def phrases(days: Annotated[int, Query(ge=1, le=90)] = 7, top: Annotated[int, Query(ge=1, le=50)] = 10):
        return {"days": days, "categories": phrase_cache.get(warehouse, days, top)}

    @app.get("/api/v1/priority-mix", tags=["aggregates"], dependencies=read_aggregates,
             summary="Complaints per category and priority over recent days")
    def priority_mix(days: Annotated[int, Query(ge=1, le=366)] = 7):
        return queries.priority_mix(warehouse, days)

    return app
