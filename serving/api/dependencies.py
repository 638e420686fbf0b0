"""What the routes depend on: the warehouse and key file of the running app, the API-key check with scopes, and
the types of date and time parameters (``UtcTime``, ``Day``). Everything is read from ``request.app.state``, set
once by ``create_app``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from serving import queries
from serving.auth import ApiKeys, Client
from serving.warehouse import Warehouse

HEADER_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from the key file.")
BEARER = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")
EARLIEST, LATEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(2999, 12, 31, tzinfo=dt.UTC)


def warehouse(request: Request) -> Warehouse:
    return request.app.state.warehouse


def api_keys(request: Request) -> ApiKeys:
    return request.app.state.api_keys


# The key checks are async: they do no I/O, so they need not run in the thread pool.
async def client(
    keys: Annotated[ApiKeys, Depends(api_keys)],
    key: Annotated[str | None, Security(HEADER_KEY)] = None,
    token: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
) -> Client | None:
    """The client whose key came with the request (None when the app runs without keys); 401 otherwise."""
    if not keys.enabled:
        return None
    found = keys.client_for(key or (token.credentials if token else None))
    if found is None:
        raise HTTPException(
            401,
            "a valid API key is required (X-API-Key header or Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


def scope(name: str):
    """A dependency that lets through only clients whose key has the scope ``name`` (403 otherwise)."""

    async def check(found: Annotated[Client | None, Depends(client)]) -> Client | None:
        if found is not None and name not in found.scopes:
            raise HTTPException(403, f"this API key ({found.name}) does not have the '{name}' scope")
        return found

    return check


def utc_time(value: dt.datetime) -> dt.datetime:
    """A time parameter as an aware UTC datetime (naive means UTC). Refused (the API answers 400 naming the
    parameter) outside 1970..2999, and so at the ends of the calendar, where converting to UTC overflows
    (``0001-01-01T00:00:00+05:00``, ``9999-12-31T23:59:59-14:00``)."""
    try:
        moment = queries.as_utc(value)
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise PydanticCustomError("time_out_of_range", "must be a time between 1970 and 2999")
    return moment


def day_in_range(value: dt.date) -> dt.date:
    """A day parameter, refused (400 naming the parameter) outside 1970..2999."""
    if not EARLIEST.date() <= value <= LATEST.date():
        raise PydanticCustomError("day_out_of_range", "must be a day between 1970 and 2999")
    return value


#: The type of every time parameter of the API (query or body): parsed, checked and converted to UTC in one place,
#: before a route runs.
UtcTime = Annotated[dt.datetime, AfterValidator(utc_time)]
#: The type of every day parameter of the API.
Day = Annotated[dt.date, AfterValidator(day_in_range)]


def checked_range(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``start`` and ``end`` (``UtcTime`` parameters), or 400 when start is not before end."""
    if start and end and start >= end:
        raise HTTPException(400, "start must be before end")
    return start, end


WarehouseDep = Annotated[Warehouse, Depends(warehouse)]
