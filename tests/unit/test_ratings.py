"""fact_rating_impressions (contract §4.5): one row per well-formed negative-impression item of a rating."""

from lakehouse import deliveries, message

BAD_TAG = "taobao_traderate_ImprBadTag"


@deliveries(
    message(BAD_TAG, {"tid": 1003, "num_iid": 9001, "seller_nick": "店", "biz_type": 3,
                      "impr_words": " 尺码 - 负面 - 偏小 ;坏条目;a--b;质量-负面-起球",
                      "gmt_modified": "2026-11-15 10:00:00"}, id=6101),
    message(BAD_TAG, {"tid": 1005, "impr_words": ["物流-负面-太慢", "x-y"]}, id=6102),
)
def test_impressions_from_text_or_json_array_skipping_malformed_items(built):
    """§4.5: items split on ';' (or a JSON array of them), parts trimmed; an item without exactly three non-empty
    parts ("坏条目", "a--b", "x-y") is skipped."""
    assert built.rows("SELECT message_id, category, polarity, phrase FROM fact_rating_impressions "
                      "ORDER BY message_id, phrase") == [
        {"message_id": 6101, "category": "尺码", "polarity": "负面", "phrase": "偏小"},
        {"message_id": 6101, "category": "质量", "polarity": "负面", "phrase": "起球"},
        {"message_id": 6102, "category": "物流", "polarity": "负面", "phrase": "太慢"}]
