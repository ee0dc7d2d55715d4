-- The catalog's registry of landed batches (jushita_etl/warehouse/landed.py): every batch any machine landed and
-- shipped, with where a build reads it (a local path, or its copy in the lake's data path). Run by every writer
-- and by every shipping process, which may be the first to use a new catalog.
CREATE SCHEMA IF NOT EXISTS etl;

CREATE TABLE IF NOT EXISTS etl.landed_batches (
    batch_id VARCHAR, file VARCHAR, rows BIGINT, event_dates VARCHAR[], landed_at TIMESTAMP
);
