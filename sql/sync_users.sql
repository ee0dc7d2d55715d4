-- sync_users: one row per seller nick seen in the event tables, with its Jushita message-sync status as
-- taobao.jushita.jms.user.get and .topics.get answered at checked_at. Input: api_results (one row per nick
-- asked; user_id NULL when the seller is not a sync user).
WITH answers AS (
    SELECT user_nick, user_id, is_valid, china_time(created) AS created, china_time(modified) AS modified, topics,
           checked_at
    FROM api_results
)
SELECT * FROM answers ORDER BY user_nick
