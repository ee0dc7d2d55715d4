-- 评价 (category manager): the most mentioned negative-impression keywords per dimension.
SELECT dimension, category, phrase, sum(mentions)::BIGINT AS mentions, sum(orders)::BIGINT AS orders
FROM rating_keywords
GROUP BY ALL
ORDER BY mentions DESC, dimension, category, phrase
LIMIT 10
