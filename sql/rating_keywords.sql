-- rating_keywords: one row per (seller_nick, num_iid, category, phrase) of fact_rating_impressions, NULLs grouping
-- together (contract v2 §6.3). Computed in full from fact_rating_impressions (§4.5), every row of it (the contract
-- names no polarity filter). dimension: logistics when category contains 物流/快递/配送/发货, else service when it
-- contains 客服/服务/态度, else item (also when category is NULL). orders counts distinct non-NULL tid; first_seen /
-- last_seen are min / max of the non-NULL gmt_modified.
-- The group columns (already VARCHAR, BIGINT, VARCHAR, VARCHAR) are passed through unchanged, with no cast, so a
-- filter on them pushes down into the scan.
with

impressions as (
    select seller_nick, num_iid, category, phrase, tid, gmt_modified
    from fact_rating_impressions
),

keywords as (
    select
        seller_nick,
        num_iid,
        category,
        phrase,
        count(*) as mentions,
        count(distinct tid) as orders,
        min(gmt_modified) as first_seen,
        max(gmt_modified) as last_seen
    from impressions
    group by seller_nick, num_iid, category, phrase
),

final as (
    select
        seller_nick,
        num_iid,
        category,
        phrase,
        (case
            when contains(category, '物流') or contains(category, '快递')
                or contains(category, '配送') or contains(category, '发货') then 'logistics'
            when contains(category, '客服') or contains(category, '服务') or contains(category, '态度') then 'service'
            else 'item'
        end)::varchar as dimension,
        mentions::bigint as mentions,
        orders::bigint as orders,
        first_seen::timestamp as first_seen,
        last_seen::timestamp as last_seen
    from keywords
)

select * from final
