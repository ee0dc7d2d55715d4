-- Tables of the warehouse contract (v2), with the contract's names and types, plus the pipeline's own
-- bookkeeping in schema "etl", all in the DuckLake catalog. Idempotent: run on every writer connection. (DuckLake
-- has no primary keys or unique constraints: the steps keep keys unique, and the unique_key checks verify it.)
CREATE SCHEMA IF NOT EXISTS etl;

CREATE TABLE IF NOT EXISTS quarantine (
    mq_msg_id VARCHAR, message_id BIGINT, topic VARCHAR, reason VARCHAR, detail VARCHAR, body VARCHAR,
    received_at TIMESTAMP
);

CREATE TABLE IF NOT EXISTS trade_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, tid BIGINT, oid BIGINT, seller_nick VARCHAR, buyer_nick VARCHAR, buyer_open_uid VARCHAR,
    status VARCHAR, trade_type VARCHAR, payment DECIMAL(18,2), content VARCHAR
);

CREATE TABLE IF NOT EXISTS refund_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, refund_id BIGINT, tid BIGINT, oid BIGINT, seller_nick VARCHAR, buyer_nick VARCHAR,
    buyer_open_uid VARCHAR, refund_fee DECIMAL(18,2), bill_type VARCHAR, refund_phase VARCHAR, modified TIMESTAMP,
    content VARCHAR
);

CREATE TABLE IF NOT EXISTS item_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, num_iid BIGINT, seller_nick VARCHAR, title VARCHAR, price DECIMAL(18,2), quantity BIGINT,
    sku_id BIGINT, sku_quantity BIGINT, changed_fields VARCHAR, content VARCHAR
);

CREATE TABLE IF NOT EXISTS logistics_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, tid BIGINT, out_sid VARCHAR, company_name VARCHAR, action VARCHAR, description VARCHAR,
    trace_time TIMESTAMP, content VARCHAR
);

CREATE TABLE IF NOT EXISTS rating_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, tid BIGINT, oid BIGINT, num_iid BIGINT, seller_nick VARCHAR, biz_type BIGINT, feedback VARCHAR,
    impr_words VARCHAR, gmt_modified TIMESTAMP, content VARCHAR
);

CREATE TABLE IF NOT EXISTS fenxiao_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, fenxiao_id BIGINT, sub_order_id BIGINT, tc_order_id BIGINT, supplier_username VARCHAR,
    distributor_username VARCHAR, trade_type VARCHAR, refund_fee DECIMAL(18,2), distributor_payment DECIMAL(18,2),
    content VARCHAR
);

CREATE TABLE IF NOT EXISTS fact_orders (
    tid BIGINT, seller_nick VARCHAR, buyer_nick VARCHAR, buyer_open_uid VARCHAR, trade_type VARCHAR, status VARCHAR,
    payment DECIMAL(18,2), created_at TIMESTAMP, paid_at TIMESTAMP, shipped_at TIMESTAMP, finished_at TIMESTAMP,
    closed_at TIMESTAMP, first_event_at TIMESTAMP, last_event_at TIMESTAMP, event_count BIGINT,
    refunded_amount DECIMAL(18,2)
);

CREATE TABLE IF NOT EXISTS fact_refunds (
    refund_id BIGINT, tid BIGINT, oid BIGINT, seller_nick VARCHAR, buyer_nick VARCHAR, buyer_open_uid VARCHAR,
    bill_type VARCHAR, refund_phase VARCHAR, refund_fee DECIMAL(18,2), status VARCHAR, created_at TIMESTAMP,
    agreed_at TIMESTAMP, refused_at TIMESTAMP, goods_returned_at TIMESTAMP, succeeded_at TIMESTAMP,
    closed_at TIMESTAMP, last_event_at TIMESTAMP, event_count BIGINT
);

CREATE TABLE IF NOT EXISTS dim_items (
    num_iid BIGINT, seller_nick VARCHAR, title VARCHAR, price DECIMAL(18,2), quantity BIGINT, status VARCHAR,
    first_event_at TIMESTAMP, last_event_at TIMESTAMP, deleted_at TIMESTAMP, event_count BIGINT
);

CREATE TABLE IF NOT EXISTS fact_shipments (
    tid BIGINT, out_sid VARCHAR, company_name VARCHAR, last_action VARCHAR, last_description VARCHAR,
    consigned_at TIMESTAMP, picked_up_at TIMESTAMP, signed_at TIMESTAMP, first_trace_at TIMESTAMP,
    last_trace_at TIMESTAMP, exception_count BIGINT, trace_count BIGINT
);

CREATE TABLE IF NOT EXISTS fact_rating_impressions (
    message_id BIGINT, tid BIGINT, num_iid BIGINT, seller_nick VARCHAR, category VARCHAR, polarity VARCHAR,
    phrase VARCHAR, gmt_modified TIMESTAMP
);

-- One row per landed batch already ingested (raw_messages is a view over exactly these files). reported_at: when a
-- raw_messages materialization reported it as new (NULL until then, whichever step or build ingested it).
CREATE TABLE IF NOT EXISTS etl.ingested_batches (
    batch_id VARCHAR, file VARCHAR, rows BIGINT, ingested_at TIMESTAMP, reported_at TIMESTAMP
);

-- Landed batches the ingest could not read (truncated, empty, not Parquet, wrong columns), set aside by
-- jushita_etl/warehouse/unreadable.py: never deleted (moved_to: where the file went), with what is known of their
-- deliveries (rows and dates from the landing manifest; the msg ids when that column could still be read).
-- resolved_at: when every known msg id was ingested from another landing, or an operator said it was repaired.
CREATE TABLE IF NOT EXISTS etl.unreadable_batches (
    batch_id VARCHAR, file VARCHAR, moved_to VARCHAR, rows BIGINT, event_dates VARCHAR[], mq_msg_ids VARCHAR[],
    error VARCHAR, found_at TIMESTAMP, resolved_at TIMESTAMP
);

-- One row per distinct delivery (mq_msg_id): its envelope parsed once, and its verdict (a quarantine reason, NULL
-- when usable). Narrow: no body and no content (the canonical copy's content is in its event table, the body in the
-- landed batch at (batch_id, row_in_file)). The ingest looks up here which deliveries it has seen and which copy of
-- a republished platform message was born first. msg_hash: hash(mq_msg_id), never NULL: the ingest finds the ids
-- seen before on these 8 bytes, not on every 32-character id of the history.
CREATE TABLE IF NOT EXISTS etl.deliveries (
    mq_msg_id VARCHAR, batch_id VARCHAR, row_in_file BIGINT, received_at TIMESTAMP, born_timestamp BIGINT,
    reason VARCHAR, message_id BIGINT, domain VARCHAR, event_date DATE, msg_hash UBIGINT
);

-- The event dates whose rows the ingest changed, per event table, not yet reported: the ingest writes the event
-- tables in its own transaction, and the event step (steps.report_events) reports each changed partition's row
-- count and empties this table; a build that stops in between reports them next time.
CREATE TABLE IF NOT EXISTS etl.event_changes (table_name VARCHAR, event_date DATE);

-- Keys whose facts must be refolded: written by the ingest (old and new keys of the event rows it changed),
-- consumed by the fact and scenario steps. key2 carries the second part of composite keys (out_sid for shipments).
CREATE TABLE IF NOT EXISTS etl.dirty_keys (domain VARCHAR, key BIGINT, key2 VARCHAR);

-- The snapshots analysts read: the last one is the state of the last finished build (see jushita_etl/warehouse/lake.py).
CREATE TABLE IF NOT EXISTS etl.published (snapshot_id BIGINT, published_at TIMESTAMP);

-- The reconciliation (sql/internal/reconciliation.sql) of each published snapshot, counted as it was published: a
-- build with nothing new reports it instead of counting again.
CREATE TABLE IF NOT EXISTS etl.reconciliations (
    snapshot_id BIGINT, deliveries BIGINT, events BIGINT, duplicates BIGINT, quarantined BIGINT, unmodelled BIGINT
);

CREATE TABLE IF NOT EXISTS sync_users (
    user_nick VARCHAR, user_id BIGINT, is_valid BOOLEAN, created TIMESTAMP, modified TIMESTAMP, topics VARCHAR[],
    checked_at TIMESTAMP
);

-- Outcome of each sync_users refresh (whether the TOP gateway answered), for its asset check.
CREATE TABLE IF NOT EXISTS etl.sync_users_refreshes (checked_at TIMESTAMP, reachable BOOLEAN, error VARCHAR);

-- The warehouse watermark W of contract v2 §6: the newest pub_time of the six event tables (NULL when they are
-- empty). Event time, not the clock, so a replay answers as the live stream did; the scenario models read it.
CREATE VIEW IF NOT EXISTS watermark AS
SELECT max(pub_time) AS w
FROM (
    SELECT max(pub_time) AS pub_time FROM trade_events
    UNION ALL SELECT max(pub_time) FROM refund_events
    UNION ALL SELECT max(pub_time) FROM item_events
    UNION ALL SELECT max(pub_time) FROM logistics_events
    UNION ALL SELECT max(pub_time) FROM rating_events
    UNION ALL SELECT max(pub_time) FROM fenxiao_events
);

-- The business scenarios of contract v2 §6 (sql/<table>.sql computes each; jushita_etl/warehouse/scenarios.py
-- refreshes them).
CREATE TABLE IF NOT EXISTS shipment_alerts (
    alert_type VARCHAR, tid BIGINT, out_sid VARCHAR, seller_nick VARCHAR, buyer_nick VARCHAR, company_name VARCHAR,
    last_action VARCHAR, last_description VARCHAR, since TIMESTAMP, hours_open DECIMAL(10,1), as_of TIMESTAMP
);

CREATE TABLE IF NOT EXISTS refund_interceptions (
    refund_id BIGINT, tid BIGINT, seller_nick VARCHAR, buyer_nick VARCHAR, refund_fee DECIMAL(18,2),
    refund_status VARCHAR, refund_phase VARCHAR, refund_created_at TIMESTAMP, shipped_at TIMESTAMP, out_sid VARCHAR,
    company_name VARCHAR, last_action VARCHAR, last_trace_at TIMESTAMP, unsigned_parcels BIGINT,
    hours_open DECIMAL(10,1), as_of TIMESTAMP
);

CREATE TABLE IF NOT EXISTS rating_keywords (
    seller_nick VARCHAR, num_iid BIGINT, category VARCHAR, phrase VARCHAR, dimension VARCHAR, mentions BIGINT,
    orders BIGINT, first_seen TIMESTAMP, last_seen TIMESTAMP
);

CREATE TABLE IF NOT EXISTS item_history (
    num_iid BIGINT, version BIGINT, valid_from TIMESTAMP, valid_to TIMESTAMP, is_current BOOLEAN,
    seller_nick VARCHAR, title VARCHAR, status VARCHAR, price DECIMAL(18,2), quantity BIGINT, event_type VARCHAR,
    message_id BIGINT, changed_fields VARCHAR
);

CREATE TABLE IF NOT EXISTS distributor_daily (
    supplier_username VARCHAR, distributor_username VARCHAR, event_date DATE, orders_created BIGINT,
    orders_paid BIGINT, orders_shipped BIGINT, orders_succeeded BIGINT, orders_closed BIGINT,
    paid_amount DECIMAL(18,2), refunds_succeeded BIGINT, refund_amount DECIMAL(18,2), events BIGINT
);

-- What each ingest added, for the reconciliation (sql/internal/reconciliation.sql): kept as it happens, in the
-- ingest's own transaction, so it is never recounted over all history. messages: platform messages first seen.
CREATE TABLE IF NOT EXISTS etl.ingest_counts (
    ingested_at TIMESTAMP, deliveries BIGINT, unmodelled BIGINT, modelled_copies BIGINT, messages BIGINT
);
