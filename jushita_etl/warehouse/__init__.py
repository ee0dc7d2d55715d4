"""The DuckDB warehouse: the contract's tables, the steps that fill them, and how analysts get a stable file."""
