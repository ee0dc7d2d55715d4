-- fact_rating_impressions: one row per well-formed negative-impression item of a rating event (contract §4.5).
-- impr_words is a ';'-separated list of category-polarity-phrase items, or a JSON array of such strings.
-- Rebuilds the rows of the rating messages in etl.dirty_keys (domain 'rating'), or of all when $full.
WITH touched AS (
    SELECT DISTINCT key AS message_id FROM etl.dirty_keys WHERE domain = 'rating'
),
ratings AS (
    SELECT message_id, tid, num_iid, seller_nick, gmt_modified, impr_words
    FROM rating_events
    WHERE impr_words IS NOT NULL AND ($full OR message_id IN (SELECT message_id FROM touched))
),
items AS (
    SELECT *, unnest(
        -- json_valid first: try() would re-run every vector holding plain text row by row
        CASE WHEN left(impr_words, 1) = '[' AND json_valid(impr_words) AND json_type(impr_words) = 'ARRAY'
             THEN json_extract_string(impr_words, '$[*]')
             ELSE string_split(impr_words, ';') END) AS item
    FROM ratings
),
parts AS (
    SELECT *, list_transform(string_split(item, '-'), lambda p: trim(p)) AS part FROM items
)
SELECT message_id, tid, num_iid, seller_nick, part[1] AS category, part[2] AS polarity, part[3] AS phrase,
       gmt_modified
FROM parts
WHERE len(part) = 3 AND part[1] <> '' AND part[2] <> '' AND part[3] <> ''
