-- Parsing rules of the warehouse contract §1, as macros over the text json_extract_string gives for one field (and
-- json_transform to VARCHAR, which the models use to read fields by name, gives the same): a string's value
-- (unescaped), any other value as its JSON text (a number as the parser read it, an object, an array,
-- true/false), NULL for null or a missing field. That text is already the contract's "text as given", so
-- text columns need no macro, and no value is parsed twice (measured against json_extract, whose JSON text needs a
-- second parse per string: the trade_events fields 0.65 s -> 0.35 s for 430k rows, ingest of 1M -0.7 s).
-- Temporary: defined on every connection, never stored in the file analysts open.

-- Exact 64-bit integer from a JSON integer or a string of digits (both give the digits); never through a double.
-- TRY_CAST alone would also take '+5', ' 5', '1.5' or '1_000', so the text must be digits: the cast's own decimal
-- text is the common case and needs no regular expression (1M ids 0.15 -> 0.11 s); anything else ('007', '-0') is
-- checked by the pattern.
CREATE OR REPLACE TEMP MACRO s_int(t) AS CASE
    WHEN TRY_CAST(t AS BIGINT)::VARCHAR = t THEN TRY_CAST(t AS BIGINT)
    WHEN regexp_full_match(t, '-?[0-9]+') THEN TRY_CAST(t AS BIGINT) END;

-- Whether json_extract_string's text t could be the text of a JSON number, true, false, an array or an object
-- (rather than only of a string), i.e. whether telling them apart needs the value's type. A superset is safe (the
-- type is then looked up), so the first character decides. Looked up in a string, not an IN list: DuckDB plans a
-- long IN list as a join, which for 1M bodies cost 0.2 CPU-s of the parse.
CREATE OR REPLACE TEMP MACRO could_be_literal(t) AS
    (t <> '' AND contains('-0123456789{[', left(t, 1))) OR t = 'true' OR t = 'false';

-- Whether text t has the shape of a JSON object: '{' first and '}' last, around JSON's own whitespace (space, tab,
-- newline, carriage return). Every JSON object has it; the parse (parse_deliveries.sql) reads only such text.
-- prefix/suffix compare bytes and decide nearly every row; the trims run only for the rest, in a CASE branch (an OR
-- evaluates both sides, and right() counts the characters of every text: 2 s for 1M bodies).
CREATE OR REPLACE TEMP MACRO object_shaped(t) AS CASE
    WHEN prefix(t, '{') AND suffix(t, '}') THEN true
    ELSE prefix(ltrim(t, ' ' || chr(9) || chr(10) || chr(13)), '{')
         AND suffix(rtrim(t, ' ' || chr(9) || chr(10) || chr(13)), '}') END;

-- Whether the parse reads text t as a JSON object: object-shaped, and valid JSON when validate is true; when it is
-- false the text is trusted, and json_extract_string fails the statement on one that is malformed after all (see
-- steps.ingest). A CASE, so that json_valid does not run at all when it is not asked for.
CREATE OR REPLACE TEMP MACRO readable_object(t, validate) AS
    object_shaped(t) AND CASE WHEN validate THEN json_valid(t) ELSE true END;

-- Whether blob b is valid UTF-8: decoding with 'ignore' drops invalid bytes, so the text is shorter exactly when
-- some were invalid.
CREATE OR REPLACE TEMP MACRO is_utf8(b) AS strlen(decode(b, 'ignore')) = octet_length(b);

-- Money in yuan: a decimal string or a JSON number, to DECIMAL(18,2).
CREATE OR REPLACE TEMP MACRO s_money(t) AS CASE
    WHEN regexp_full_match(t, '-?[0-9]+(\.[0-9]+)?') THEN TRY_CAST(t AS DECIMAL(18,2)) END;

-- China wall-clock time from 'yyyy-MM-dd HH:mm:ss'.
CREATE OR REPLACE TEMP MACRO china_time(s) AS CASE
    WHEN regexp_full_match(s, '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}')
    THEN try_strptime(s, '%Y-%m-%d %H:%M:%S') END;

-- A content time (field path of doc, t its json_extract_string text): the string form above, or a JSON integer of
-- epoch milliseconds converted to China time. Only digits are ambiguous (a string of digits is no time), so only
-- for them is the value's type looked up. TRY_CAST although only digits get there: the optimizer may evaluate the
-- cast ahead of the CASE, for every row (DuckDB 1.5 does, when t is a field of a json_transform struct).
CREATE OR REPLACE TEMP MACRO s_time(t, doc, path) AS CASE
    WHEN regexp_full_match(t, '-?[0-9]+') THEN CASE WHEN json_type(doc, path) IN ('BIGINT', 'UBIGINT')
        THEN timezone('Asia/Shanghai', try(epoch_ms(TRY_CAST(t AS BIGINT)))::TIMESTAMPTZ) END
    ELSE china_time(t) END;

-- The contract's order of the events of one key (§4: time, then lifecycle rank, then message_id) packed into one
-- HUGEINT, so folds compare one integer instead of a struct (measured: the fact_orders fold 0.31 s -> 0.14 s).
-- Exact: epoch milliseconds of any TIMESTAMP times 128 (ranks are below 100) fit in 63 bits plus sign, and a
-- message_id (|m| < 2^63) never bridges two multiples of 2^64, so the three parts compare lexicographically.
CREATE OR REPLACE TEMP MACRO fold_order(t, lifecycle_rank, message_id) AS
    (epoch_ms(t)::HUGEINT * 128 + lifecycle_rank) * 18446744073709551616 + message_id;

-- "taobao_trade_" from "taobao_trade_TradeCreate": the topic up to its second underscore (string positions: a
-- regular expression took twice as long for 1M topics). Without a second underscore, up to the first (or '').
CREATE OR REPLACE TEMP MACRO topic_head(topic) AS
    left(topic, strpos(topic, '_') + strpos(substr(topic, strpos(topic, '_') + 1), '_'));

-- "TradeCreate" from "taobao_trade_TradeCreate".
CREATE OR REPLACE TEMP MACRO event_type_of(topic) AS regexp_extract(topic, '^[^_]*_[^_]*_(.*)$', 1);

-- Lifecycle ranks of the contract §4 (an event type not listed takes its table's "other" rank).
CREATE OR REPLACE TEMP MACRO trade_rank(t) AS CASE t
    WHEN 'TradeCreate' THEN 10 WHEN 'TradeAlipayCreate' THEN 20 WHEN 'TradeBuyerStepPay' THEN 30
    WHEN 'TradeBuyerPay' THEN 40 WHEN 'TradePartlySellerShip' THEN 50 WHEN 'TradeSellerShip' THEN 60
    WHEN 'TradeSuccess' THEN 80 WHEN 'TradeClose' THEN 90 ELSE 45 END;
CREATE OR REPLACE TEMP MACRO refund_rank(t) AS CASE t
    WHEN 'RefundCreated' THEN 10 WHEN 'RefundBuyerModifyAgreement' THEN 20
    WHEN 'RefundSellerRefuseAgreement' THEN 30 WHEN 'RefundSellerAgreeAgreement' THEN 40
    WHEN 'RefundBuyerReturnGoods' THEN 50 WHEN 'RefundSuccess' THEN 90 WHEN 'RefundClosed' THEN 90 ELSE 25 END;
CREATE OR REPLACE TEMP MACRO item_rank(t) AS CASE t
    WHEN 'ItemAdd' THEN 10 WHEN 'ItemUpshelf' THEN 20 WHEN 'ItemDownshelf' THEN 40
    WHEN 'ItemPunishDownshelf' THEN 40 WHEN 'ItemDelete' THEN 90 WHEN 'ItemPunishDelete' THEN 90 ELSE 30 END;
CREATE OR REPLACE TEMP MACRO action_rank(a) AS CASE a
    WHEN 'CREATE' THEN 10 WHEN 'CONSIGN' THEN 20 WHEN 'GOT' THEN 30 WHEN 'DEPARTURE' THEN 40
    WHEN 'ARRIVAL' THEN 50 WHEN 'SENT_CITY' THEN 55 WHEN 'TO_EMS' THEN 55 WHEN 'SENT_SCAN' THEN 60
    WHEN 'FAILED' THEN 70 WHEN 'LOST' THEN 70 WHEN 'SIGNED' THEN 90 ELSE 45 END;
