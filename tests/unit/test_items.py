"""dim_items (contract §4.3): the latest non-null attributes, and a status only lifecycle events change."""

from datetime import datetime
from decimal import Decimal

from lakehouse import deliveries, message


def item(event, id, pub_time, **content):
    return message("taobao_item_" + event, content, id=id, pub_time=pub_time)


@deliveries(
    item("ItemAdd", 9101, "2026-11-11 01:00:00", num_iid=9001, nick="店", title="杯", price="9.90", num=5),
    item("ItemDownshelf", 9102, "2026-11-11 02:00:00", num_iid=9001),
    item("ItemUpdate", 9103, "2026-11-11 03:00:00", num_iid=9001, nick="店", price="8.80", num="7"),
    item("ItemDelete", 9104, "2026-11-11 04:00:00", num_iid=9002, nick="店"),
)
def test_status_comes_from_lifecycle_events_only(built):
    """§4.3: an ItemUpdate ("other") after the downshelf leaves the status instock but updates price and quantity
    (a quantity given as a digit string); a deleted item has deleted_at."""
    assert built.row("SELECT status, price, quantity, title, seller_nick, event_count, deleted_at FROM dim_items "
                     "WHERE num_iid = 9001") == {
        "status": "instock", "price": Decimal("8.80"), "quantity": 7, "title": "杯", "seller_nick": "店",
        "event_count": 3, "deleted_at": None}
    assert built.row("SELECT status, deleted_at FROM dim_items WHERE num_iid = 9002") == {
        "status": "deleted", "deleted_at": datetime(2026, 11, 11, 4)}
