-- Parse every delivery of newly landed batches once: one row per mq_msg_id not seen before, with the
-- envelope's fields (contract §0.1, §1) and the verdict: a quarantine reason (§2), or NULL when usable.
-- Reads the landed Parquet files $files directly and inserts straight into etl.deliveries (no intermediate
-- table: the content column is most of the bytes); the body itself is kept only for quarantined deliveries.
INSERT INTO etl.deliveries BY NAME
WITH landed AS (
    SELECT r.mq_msg_id, r.batch_id, r.file_row_number AS row_in_file, r.received_at, r.born_timestamp, r.body
    FROM read_parquet($files, file_row_number = true) AS r
),
later_copies AS (
    -- a redelivered msg_id carries the same body; keep its first landing. Ranked on the narrow columns only, so
    -- the bodies never go through the window.
    SELECT batch_id, row_in_file FROM (
        SELECT mq_msg_id, batch_id, row_in_file, received_at FROM landed
        WHERE mq_msg_id IN (SELECT mq_msg_id FROM landed GROUP BY 1 HAVING count(*) > 1)
    )
    QUALIFY row_number() OVER (PARTITION BY mq_msg_id ORDER BY received_at, batch_id, row_in_file) > 1
),
new_rows AS (
    SELECT * FROM landed
    WHERE mq_msg_id NOT IN (SELECT mq_msg_id FROM etl.deliveries)
      AND (batch_id, row_in_file) NOT IN (SELECT (batch_id, row_in_file) FROM later_copies)
),
decoded AS (
    SELECT *, try(decode(body)) AS body_text FROM new_rows
),
envelopes AS (
    -- one parse per body; try() turns malformed JSON into NULL, and only an object starts with '{'
    SELECT *, CASE WHEN left(ltrim(body_text), 1) = '{' THEN
        try(json_extract(body_text, ['$.id', '$.topic', '$.pub_time', '$.content', '$.user_id', '$.user_nick'])::VARCHAR[])
        END AS env
    FROM decoded
),
fields AS (
    SELECT *,
        j_int(env[1]) AS message_id,
        j_string(env[2]) AS topic,
        china_time(j_string(env[3])) AS pub_time,
        env[4] AS content_raw,
        j_int(env[5]) AS user_id,
        j_text(env[6]) AS user_nick
    FROM envelopes
),
contents AS (
    SELECT *,
        CASE WHEN left(content_raw, 1) = '{' THEN content_raw
             WHEN left(content_raw, 1) = '"' THEN content_raw ->> '$' END AS content_text,
        CASE WHEN starts_with(topic, 'taobao_trade_') THEN 'trade'
             WHEN starts_with(topic, 'taobao_refund_') THEN 'refund'
             WHEN starts_with(topic, 'taobao_item_') THEN 'item'
             WHEN topic = 'taobao_logistics_LogsticDetailTrace' THEN 'logistics'
             WHEN starts_with(topic, 'taobao_traderate_') THEN 'rating'
             WHEN starts_with(topic, 'taobao_fenxiao_') THEN 'fenxiao' END AS domain
    FROM fields
),
content_keys AS (
    -- one parse per content: the candidate business keys of every domain
    SELECT *, CASE WHEN left(ltrim(content_text), 1) = '{' THEN
        try(json_extract(content_text, ['$.tid', '$.refund_id', '$.num_iid', '$.fenxiao_id', '$.sub_order_id'])::VARCHAR[])
        END AS k
    FROM contents
),
keyed AS (
    SELECT *,
        CASE WHEN k IS NOT NULL THEN content_text END AS content,
        CASE domain
            WHEN 'trade' THEN j_int(k[1])
            WHEN 'logistics' THEN j_int(k[1])
            WHEN 'rating' THEN j_int(k[1])
            WHEN 'refund' THEN j_int(k[2])
            WHEN 'item' THEN j_int(k[3])
            WHEN 'fenxiao' THEN coalesce(j_int(k[4]), j_int(k[5])) END AS business_key
    FROM content_keys
),
verdicts AS (
    SELECT *,
        CASE
            WHEN body_text IS NULL THEN 'body_not_json'
            WHEN env IS NULL THEN 'body_not_json'
            WHEN message_id IS NULL OR topic IS NULL OR topic = '' OR pub_time IS NULL
                 OR content_raw IS NULL OR left(content_raw, 1) NOT IN ('{', '"') THEN 'envelope_invalid'
            WHEN content IS NULL THEN 'content_not_json'
            WHEN domain IS NOT NULL AND business_key IS NULL THEN 'missing_key'
        END AS reason
    FROM keyed
)
SELECT
    mq_msg_id, batch_id, row_in_file, received_at, born_timestamp, reason,
    CASE
        WHEN reason IS NULL THEN NULL
        WHEN body_text IS NULL THEN 'body is not valid UTF-8'
        WHEN env IS NULL THEN 'body is not a JSON object'
        WHEN message_id IS NULL THEN 'envelope id is missing or not a 64-bit integer'
        WHEN topic IS NULL OR topic = '' THEN 'envelope topic is missing or not a non-empty string'
        WHEN pub_time IS NULL THEN 'envelope pub_time is missing or not a valid yyyy-MM-dd HH:mm:ss'
        WHEN reason = 'envelope_invalid' THEN 'envelope content is missing or neither a string nor an object'
        WHEN reason = 'content_not_json' THEN 'content is a string that is not a JSON object'
        ELSE 'business key ' || CASE domain WHEN 'refund' THEN 'refund_id' WHEN 'item' THEN 'num_iid'
            WHEN 'fenxiao' THEN 'fenxiao_id/sub_order_id' ELSE 'tid' END || ' is missing or not a 64-bit integer'
    END AS detail,
    message_id, nullif(topic, '') AS topic, event_type_of(topic) AS event_type, user_id, user_nick, pub_time,
    pub_time::DATE AS event_date, domain, business_key,
    CASE WHEN reason IS NULL THEN content END AS content,
    CASE WHEN reason IS NOT NULL THEN body END AS body
FROM verdicts;

-- Quarantine: one row per distinct quarantined mq_msg_id (§2) of the batches just ingested.
INSERT INTO quarantine
SELECT mq_msg_id, message_id, topic, reason, detail,
       -- the body as text, invalid UTF-8 replaced by U+FFFD
       coalesce(try(decode(body)), etl_replace_invalid_utf8(body)) AS body,
       received_at
FROM etl.deliveries
WHERE reason IS NOT NULL AND batch_id IN (SELECT unnest($batch_ids));
