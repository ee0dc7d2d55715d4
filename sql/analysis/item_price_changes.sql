-- 商品 (category manager): the items whose price changed most often, with their first and current price.
WITH priced AS (
    SELECT num_iid, version, price, is_current,
           price IS DISTINCT FROM lag(price) OVER (PARTITION BY num_iid ORDER BY version) AS price_changed
    FROM item_history
)
SELECT num_iid, count(*) FILTER (WHERE price_changed AND version > 1) AS price_changes,
       arg_min(price, version) AS first_price, arg_max(price, version) AS current_price, count(*) AS versions
FROM priced
GROUP BY num_iid
ORDER BY price_changes DESC, num_iid
LIMIT 10
