"""``python -m jushita_etl.cli``."""

from jushita_etl.cli import run

run()
