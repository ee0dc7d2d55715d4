-- Parse every delivery of newly landed batches once: one row per mq_msg_id not seen before, with the
-- envelope's fields (contract §0.1, §1) and the verdict: a quarantine reason (§2), or NULL when usable.
-- Reads the landed Parquet files $files directly into the temporary table new_deliveries, from which the rest of
-- the ingest (steps.ingest) derives everything; the body itself is kept only for quarantined deliveries.
CREATE OR REPLACE TEMP TABLE new_deliveries AS
WITH landed AS NOT MATERIALIZED (
    SELECT r.mq_msg_id, r.batch_id, r.file_row_number AS row_in_file, r.received_at, r.born_timestamp, r.body
    FROM read_parquet($files, file_row_number = true) AS r
),
landed_ids AS (
    -- the narrow columns only: landed is inlined (NOT MATERIALIZED), so this scan skips the bodies, which the parse
    -- then reads once and never holds
    SELECT mq_msg_id, batch_id, row_in_file, received_at FROM landed
),
later_copies AS (
    -- a redelivered msg_id carries the same body; keep its first landing. Ranked on the narrow columns only, so
    -- the bodies never go through the window. The candidates are found by the ids' 64-bit hashes (grouping 1M
    -- integers instead of 32-character strings: 0.30 -> 0.22 CPU-s); a collision only adds a candidate, which the
    -- ranking by the id itself then leaves alone.
    SELECT batch_id, row_in_file FROM (
        SELECT mq_msg_id, batch_id, row_in_file, received_at FROM landed_ids
        WHERE hash(mq_msg_id) IN (SELECT hash(mq_msg_id) FROM landed_ids GROUP BY 1 HAVING count(*) > 1)
    )
    QUALIFY row_number() OVER (PARTITION BY mq_msg_id ORDER BY received_at, batch_id, row_in_file) > 1
),
seen_hashes AS (
    -- the deliveries seen before, looked up for the landed ids only (the hash table holds the new ids, not every id
    -- of the history) and on the 8-byte hashes of the ids: 5M ids of 32 characters took 0.2 s to read and compare
    SELECT DISTINCT d.msg_hash FROM etl.deliveries AS d
    WHERE d.msg_hash IN (SELECT hash(mq_msg_id) FROM landed_ids)
),
seen AS (
    -- the ids themselves, read only for the rows of those hashes: nearly always none or a few (redeliveries), so
    -- their short IN list prunes the scan; a collision of hashes only adds an id that then matches no landed one
    SELECT d.mq_msg_id FROM etl.deliveries AS d WHERE d.msg_hash IN (SELECT msg_hash FROM seen_hashes)
),
new_rows AS (
    SELECT * FROM landed
    WHERE mq_msg_id NOT IN (SELECT mq_msg_id FROM seen)
      AND (batch_id, row_in_file) NOT IN (SELECT (batch_id, row_in_file) FROM later_copies)
),
decoded AS (
    -- the body as text when it is valid UTF-8 (is_utf8: try(decode()) re-runs every vector holding one invalid body
    -- row by row, 0.26 s against 0.12 s for 1M bodies)
    SELECT *, CASE WHEN is_utf8(body) THEN decode(body, 'ignore') END AS body_text
    FROM new_rows
),
envelopes AS (
    -- One parse per body, of JSON objects only. The JSON functions fail the statement on malformed JSON, so each
    -- object-shaped body is either checked with json_valid first ($validate_json) or trusted: then the statement
    -- fails if one is malformed after all, and steps.ingest runs it again validating (the shape already excludes
    -- the truncated bodies and plain text that make up nearly all bad input; json_valid is a full parse of its
    -- own, 0.75 of 7 CPU-s for 1M bodies and contents, and try() re-runs a whole vector row by row once one row
    -- in it fails). json_transform to VARCHAR hands each field over by name as json_extract_string would, as
    -- text: a string's value, anything else as its JSON text (the first of duplicate keys; names match exactly),
    -- so the content string is unescaped once (json_extract re-escaped it and ->> unescaped it again: 1.0 s
    -- against 0.4 s for 1M bodies).
    SELECT *, CASE WHEN readable_object(body_text, $validate_json) THEN
        json_transform(body_text, '{"id": "VARCHAR", "topic": "VARCHAR", "pub_time": "VARCHAR", "content": "VARCHAR",
                                    "user_id": "VARCHAR", "user_nick": "VARCHAR"}')
        END AS env
    FROM decoded
),
fields AS (
    -- The text alone cannot tell the string "5" from the number 5. That matters only where the contract wants a
    -- string (topic; content must be a string or an object) and only for text that could be a JSON literal, so
    -- only then is the field's type looked up (a second parse, for a handful of bodies).
    SELECT *,
        s_int(env.id) AS message_id,
        CASE WHEN env.topic IS NULL THEN NULL
             WHEN NOT could_be_literal(env.topic) THEN env.topic
             WHEN json_type(body_text, '$.topic') = 'VARCHAR' THEN env.topic END AS topic,
        china_time(env.pub_time) AS pub_time,  -- only a string can match yyyy-MM-dd HH:mm:ss
        env.content AS content_text,
        CASE WHEN env.content IS NULL THEN false  -- missing, or null
             WHEN left(env.content, 1) = '{' OR NOT could_be_literal(env.content) THEN true  -- an object, or a string
             ELSE coalesce(json_type(body_text, '$.content') = 'VARCHAR', false) END AS content_is_text,
        s_int(env.user_id) AS user_id,
        env.user_nick AS user_nick
    FROM envelopes
),
routed AS (
    -- The domain of the topic, from the event tables' topics (topic_routes, from sql/tables.yml: at most one route
    -- matches a topic); no route: an unmodelled topic. A route also says where the event type starts in the topic
    -- and which content fields hold its business key. Joined on the topic's head (up to its second underscore; one
    -- route per head), then matched: a hash join, where a join on the match itself was a nested loop of every
    -- delivery against every route (0.4 of 6.8 CPU-s for 1M).
    SELECT * EXCLUDE (route), route.*
    FROM (
        SELECT f.*,
            CASE WHEN starts_with(f.topic, r.prefix) AND (r.topic IS NULL OR f.topic = r.topic) THEN
                {'domain': r.domain, 'event_type_from': r.event_type_from, 'key_position': r.key_position,
                 'fallback_position': r.fallback_position, 'key_name': r.key_name}
            END AS route
        FROM fields AS f
        LEFT JOIN topic_routes AS r ON r.head = topic_head(f.topic)
    )
),
content_keys AS (
    -- one parse per content (a string holding an object, or an object given directly): the fields of every
    -- domain's business key ($key_paths; validated or trusted like the bodies above)
    SELECT *, CASE WHEN content_is_text AND readable_object(content_text, $validate_json) THEN
        json_extract_string(content_text, $key_paths)
        END AS k
    FROM routed
),
keyed AS (
    SELECT *,
        CASE WHEN k IS NOT NULL THEN content_text END AS content,
        -- the route's key field, or its fallback when that is missing or invalid (fenxiao_id, then sub_order_id)
        coalesce(s_int(k[key_position]), s_int(k[fallback_position])) AS business_key
    FROM content_keys
),
verdicts AS (
    SELECT *,
        CASE
            WHEN body_text IS NULL THEN 'body_not_json'
            WHEN env IS NULL THEN 'body_not_json'
            WHEN message_id IS NULL OR topic IS NULL OR topic = '' OR pub_time IS NULL OR NOT content_is_text
                THEN 'envelope_invalid'
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
        ELSE 'business key ' || key_name || ' is missing or not a 64-bit integer'
    END AS detail,
    message_id, nullif(topic, '') AS topic,
    -- a routed topic's event type starts where its route says; the pattern only for other topics
    CASE WHEN domain IS NOT NULL THEN substr(topic, event_type_from) ELSE event_type_of(topic) END AS event_type,
    user_id, user_nick, pub_time,
    pub_time::DATE AS event_date, domain, business_key,
    CASE WHEN reason IS NULL THEN content END AS content,
    CASE WHEN reason IS NOT NULL THEN body END AS body
FROM verdicts;
