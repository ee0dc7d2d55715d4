-- Tables of the warehouse contract (v1), with the contract's names and types, plus the pipeline's own
-- bookkeeping in schema "etl". Idempotent: run on every writer connection.
CREATE SCHEMA IF NOT EXISTS etl;

CREATE TABLE IF NOT EXISTS quarantine (
    mq_msg_id VARCHAR, message_id BIGINT, topic VARCHAR, reason VARCHAR, detail VARCHAR, body VARCHAR USING COMPRESSION zstd,
    received_at TIMESTAMP
);

CREATE TABLE IF NOT EXISTS trade_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, tid BIGINT, oid BIGINT, seller_nick VARCHAR, buyer_nick VARCHAR, buyer_open_uid VARCHAR,
    status VARCHAR, trade_type VARCHAR, payment DECIMAL(18,2), content VARCHAR USING COMPRESSION zstd
);

CREATE TABLE IF NOT EXISTS refund_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, refund_id BIGINT, tid BIGINT, oid BIGINT, seller_nick VARCHAR, buyer_nick VARCHAR,
    buyer_open_uid VARCHAR, refund_fee DECIMAL(18,2), bill_type VARCHAR, refund_phase VARCHAR, modified TIMESTAMP,
    content VARCHAR USING COMPRESSION zstd
);

CREATE TABLE IF NOT EXISTS item_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, num_iid BIGINT, seller_nick VARCHAR, title VARCHAR, price DECIMAL(18,2), quantity BIGINT,
    sku_id BIGINT, sku_quantity BIGINT, changed_fields VARCHAR, content VARCHAR USING COMPRESSION zstd
);

CREATE TABLE IF NOT EXISTS logistics_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, tid BIGINT, out_sid VARCHAR, company_name VARCHAR, action VARCHAR, description VARCHAR,
    trace_time TIMESTAMP, content VARCHAR USING COMPRESSION zstd
);

CREATE TABLE IF NOT EXISTS rating_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, tid BIGINT, oid BIGINT, num_iid BIGINT, seller_nick VARCHAR, biz_type BIGINT, feedback VARCHAR,
    impr_words VARCHAR, gmt_modified TIMESTAMP, content VARCHAR USING COMPRESSION zstd
);

CREATE TABLE IF NOT EXISTS fenxiao_events (
    message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT, user_nick VARCHAR, pub_time TIMESTAMP,
    event_date DATE, fenxiao_id BIGINT, sub_order_id BIGINT, tc_order_id BIGINT, supplier_username VARCHAR,
    distributor_username VARCHAR, trade_type VARCHAR, refund_fee DECIMAL(18,2), distributor_payment DECIMAL(18,2),
    content VARCHAR USING COMPRESSION zstd
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
    batch_id VARCHAR PRIMARY KEY, file VARCHAR, rows BIGINT, ingested_at TIMESTAMP, reported_at TIMESTAMP
);
ALTER TABLE etl.ingested_batches ADD COLUMN IF NOT EXISTS reported_at TIMESTAMP;  -- build databases made before it

-- One row per distinct delivery (mq_msg_id): the envelope parsed once, and its verdict. In the parsed deliveries'
-- own database (catalog "parsed", never published: see jushita_etl/warehouse/db.py).
-- Bodies stay in the landed Parquet ((batch_id, row_in_file) points at the row); the content object of usable
-- deliveries is kept as JSON text so that rebuilding a partition never re-reads the landing zone. Uncompressed: the
-- file is never copied, and zstd cost the 1M parse about 0.5 CPU-s more to write and the event tables more to read.
-- zstd for the ids: they are distinct 32-character strings, for which the default compression's analysis
-- (dictionary + FSST) cost 0.45 CPU-s per 1M written against 0.26.
CREATE TABLE IF NOT EXISTS parsed.deliveries (
    mq_msg_id VARCHAR USING COMPRESSION zstd, batch_id VARCHAR, row_in_file BIGINT, received_at TIMESTAMP, born_timestamp BIGINT,
    reason VARCHAR, detail VARCHAR, message_id BIGINT, topic VARCHAR, event_type VARCHAR, user_id BIGINT,
    user_nick VARCHAR, pub_time TIMESTAMP, event_date DATE, domain VARCHAR, business_key BIGINT,
    content VARCHAR USING COMPRESSION uncompressed,
    body BLOB USING COMPRESSION zstd  -- only for quarantined deliveries (NULL otherwise)
);

-- Keys whose facts must be refolded: written by event partitions (old and new keys of the window), consumed by
-- the fact assets. key2 carries the second part of composite keys (out_sid for shipments).
CREATE TABLE IF NOT EXISTS etl.dirty_keys (domain VARCHAR, key BIGINT, key2 VARCHAR);

-- Event dates whose partitions must be rebuilt because new deliveries touched them (filled by the ingest step,
-- cleared when the event partitions of that date are rebuilt). Lets `jushita-etl build` resume after a crash.
CREATE TABLE IF NOT EXISTS etl.pending_dates (event_date DATE PRIMARY KEY);

CREATE TABLE IF NOT EXISTS sync_users (
    user_nick VARCHAR, user_id BIGINT, is_valid BOOLEAN, created TIMESTAMP, modified TIMESTAMP, topics VARCHAR[],
    checked_at TIMESTAMP
);

-- Outcome of each sync_users refresh (whether the TOP gateway answered), for its asset check.
CREATE TABLE IF NOT EXISTS etl.sync_users_refreshes (checked_at TIMESTAMP, reachable BOOLEAN, error VARCHAR);
