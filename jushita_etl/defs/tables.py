"""Asset specs of the contract's tables from their entries in ``sql/tables.yml`` (``warehouse/tables.py``): the
description opens with the grain, and the key, domain and topics are metadata, so the UI shows what the file says."""

import dagster as dg

from jushita_etl.warehouse import tables


def table_spec(name: str, *, provenance: str, **spec) -> dg.AssetSpec:
    """The asset spec of table ``name`` (asset key = table); ``spec`` holds the rest (group, deps, kinds, ...)."""
    table = tables.table(name)
    topics = f" Topics: {', '.join(table.topics)}." if table.topics else ""
    metadata = {"key": ", ".join(table.key) or "none"}
    if table.domain:
        metadata["domain"] = table.domain
    if table.business_key:
        metadata["business_key"] = " or ".join(table.business_key)
    return dg.AssetSpec(name, description=f"Grain: {table.grain}.{topics} Provenance: {provenance}",
                        metadata=metadata, **spec)
