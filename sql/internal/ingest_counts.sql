-- The reconciliation's counts of one ingest (new_deliveries and new_canonical, see canonical_copies.sql): distinct
-- deliveries, unmodelled ones, usable copies of modelled messages, and messages seen for the first time (a
-- message's best new copy replaces nothing exactly when no copy of it was seen before).
INSERT INTO etl.ingest_counts
SELECT now()::TIMESTAMP,
       (SELECT count(*) FROM new_deliveries),
       (SELECT count(*) FROM new_deliveries WHERE reason IS NULL AND domain IS NULL),
       (SELECT count(*) FROM new_deliveries WHERE reason IS NULL AND domain IS NOT NULL),
       (SELECT count(*) FROM new_canonical WHERE NOT replaces)
