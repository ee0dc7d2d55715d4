"""jushita-etl: the Jushita message-sync stream, landed durably and folded into a DuckDB warehouse."""

__version__ = "0.1.0"
