"""SQL lives in ``sql/`` at the project root: one file per table (asset key = table = file stem), plus
``sql/internal/`` for the schema, macros and the parse step. Installed copies are looked up next to the package."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_CANDIDATES = [Path(__file__).resolve().parents[2] / "sql", Path(__file__).resolve().parents[1] / "sql"]


@cache
def sql_dir() -> Path:
    for candidate in _CANDIDATES:
        if (candidate / "internal" / "schema.sql").exists():
            return candidate
    raise FileNotFoundError("the sql/ folder of jushita-etl was not found next to the package")


@cache
def load(name: str) -> str:
    """The text of ``sql/<name>.sql`` (``name`` may include ``internal/``)."""
    return (sql_dir() / f"{name}.sql").read_text(encoding="utf-8")


def statements(name: str) -> list[str]:
    """The statements of a SQL file, split at semicolons that end a line."""
    text = load(name)
    parts, current = [], []
    for line in text.splitlines():
        current.append(line)
        if line.rstrip().endswith(";"):
            parts.append("\n".join(current))
            current = []
    tail = "\n".join(current).strip()
    if tail and not all(l.strip().startswith("--") or not l.strip() for l in current):
        parts.append(tail)
    return [p for p in parts if any(l.strip() and not l.strip().startswith("--") for l in p.splitlines())]


def literal(text: str) -> str:
    """``text`` as a SQL string literal, for the statements that take no bound parameters (DDL: ATTACH, views)."""
    return "'" + text.replace("'", "''") + "'"


def run(conn, name: str, params: dict | None = None) -> None:
    """Run every statement of ``sql/<name>.sql``, each with the bound parameters it mentions."""
    params = params or {}
    for statement in statements(name):
        used = {key: value for key, value in params.items() if f"${key}" in statement}
        conn.execute(statement, used) if used else conn.execute(statement)
