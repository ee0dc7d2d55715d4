-- Every seller nick (envelope user_nick) seen in the event tables.
WITH nicks AS (
    SELECT user_nick FROM trade_events UNION SELECT user_nick FROM refund_events
    UNION SELECT user_nick FROM item_events UNION SELECT user_nick FROM logistics_events
    UNION SELECT user_nick FROM rating_events UNION SELECT user_nick FROM fenxiao_events
)
SELECT user_nick FROM nicks WHERE user_nick IS NOT NULL ORDER BY 1
