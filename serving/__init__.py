"""Serving on top of the warehouse: SQL access (DuckDB), the HTTP API and dashboard, reports, forecasts."""
