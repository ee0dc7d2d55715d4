"""A shard's events rendered as replay lines in arrival order, with the delivery effects of a real queue: broker
redeliveries, platform duplicates, out-of-order and days-late arrivals, malformed deliveries of every quarantine
reason."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

from jushita_etl.simulate.events import CHINA_OFFSET, ShardEvents, malformed_delivery

QUEUES = 4  # the topic's queues


@dataclass
class FeedStats:
    deliveries: int = 0
    lines: int = 0
    events: int = 0
    malformed: int = 0

    def plus(self, other: "FeedStats") -> "FeedStats":
        return FeedStats(self.deliveries + other.deliveries, self.lines + other.lines, self.events + other.events,
                         self.malformed + other.malformed)


def _json_string(document: bytes) -> bytes:
    """orjson output as a JSON string literal: it has no raw control characters, so only backslashes and quotes
    need escaping (two C-level replaces, byte-identical to ``orjson.dumps(document.decode())``)."""
    return b'"' + document.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


ENVELOPE = b'{"content":%s,"id":%d,"pub_app_key":"12497914","pub_time":"%s","topic":"%s","user_id":%s,"user_nick":%s}'
DELIVERY = b'{"queue_id":%d,"queue_offset":%d,"msg_id":"%032X","topic":"jushita_sync_12497914","tags":"%s",' \
           b'"keys":null,"born_timestamp":%d,"reconsume_times":%d,%s}\n'


class ShardLines:
    """A shard's events rendered as replay lines in arrival order, with the delivery effects of a real queue.

    Envelopes and lines are byte templates: orjson renders only the content objects (see ``_json_string``).
    Each shard publishes to its own queues (queue % shards == shard), as a producer sharding by order would, so
    queue offsets follow arrival order without a pass over the merged feed.
    """

    def __init__(self, feed: ShardEvents):
        self.feed, self.cfg = feed, feed.cfg
        self.arrivals: list[float] = []
        self.lines: list[bytes] = []
        self.deliveries = self.events = self.malformed = 0
        self.queues = [q for q in range(QUEUES) if q % feed.shards == feed.shard]
        self.offsets = [0] * QUEUES
        self.nick_json: dict[str, bytes] = {}

    def stats(self) -> FeedStats:
        return FeedStats(deliveries=self.deliveries, lines=len(self.lines), events=self.events, malformed=self.malformed)

    def deliver(self, arrival: float, payload: bytes, tags: bytes, born: int, msg_id: int, reconsume: int = 0) -> None:
        queue = self.queues[int(self.feed.random() * len(self.queues))]
        self.arrivals.append(arrival)
        self.lines.append(DELIVERY % (queue, self.offsets[queue], msg_id, tags, born, reconsume, payload))
        self.offsets[queue] += 1

    def envelope(self, content: dict, message_id: int, pub_time: str, topic: str, user_id: bytes, nick: str) -> bytes:
        quoted_nick = self.nick_json.get(nick)
        if quoted_nick is None:
            quoted_nick = self.nick_json[nick] = orjson.dumps(nick)
        content_json = orjson.dumps(content)
        # The platform sends content as a JSON string; a few producers embed the object itself.
        if self.feed.random() < 0.95:
            content_json = _json_string(content_json)
        return ENVELOPE % (content_json, message_id, pub_time.encode(), topic.encode(), user_id, quoted_nick)

    @staticmethod
    def body(envelope: bytes) -> bytes:
        return b'"body":' + _json_string(envelope)

    @staticmethod
    def any_body(raw: bytes) -> bytes:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return b'"body_base64":"' + base64.b64encode(raw) + b'"'
        return ShardLines.body(raw)

    def render(self) -> None:
        feed, cfg = self.feed, self.cfg
        rng, random_, text = feed.rng, feed.random, feed.clock.text
        getrandbits, deliver, envelope, body = rng.getrandbits, self.deliver, self.envelope, self.body
        events = feed.events
        events.sort()  # (time, seq, ...): seq is unique, so the content dicts are never compared
        # Arrival order: mostly publish order, with local swaps and a few days-late stragglers.
        late, swapped = cfg.late_rate, cfg.late_rate + cfg.out_of_order_rate
        arrival: list[tuple[float, int]] = []
        for i, ev in enumerate(events):
            key = ev[0]
            roll = random_()
            if roll < late:
                key += (1 + 3 * random_()) * 86400
            elif roll < swapped:
                key += 1 + 599 * random_()
            arrival.append((key, i))
        arrival.sort()
        self.events = len(arrival)
        redeliveries: list[tuple[bytes, bytes, int, int]] = []
        for arrive_key, i in arrival:
            when, _seq, topic, content, user_id, nick = events[i]
            pub_time = text(when)
            payload = body(envelope(content, (1 << 60) | getrandbits(62), pub_time, topic,
                                    b"%d" % user_id if random_() < 0.95 else b'"%d"' % user_id, nick))
            tags = topic.encode()
            born = int((arrive_key - CHINA_OFFSET) * 1000)  # epoch ms; the simulated clock is China wall time
            msg_id = getrandbits(128)
            deliver(arrive_key, payload, tags, born, msg_id)
            self.deliveries += 1
            if random_() < cfg.redelivery_rate:  # the broker delivers the same msg_id again, a little later
                redeliveries.append((payload, tags, born, msg_id))
            if random_() < cfg.duplicate_rate:  # the platform publishes the same message again
                deliver(arrive_key, payload, tags, born + feed.randint(1000, 600000), getrandbits(128))
                self.deliveries += 1
            if random_() < cfg.malformed_rate:
                bad_tags, bad = malformed_delivery(rng, pub_time)
                deliver(arrive_key, self.any_body(bad), bad_tags.encode(), born, getrandbits(128))
                self.deliveries += 1
                self.malformed += 1
            if random_() < cfg.unmodelled_rate:
                feed.unmodelled(when, {"nick": nick, "user_id": user_id})
                _w, _s, utopic, ucontent, _u, _n = events.pop()
                ubody = envelope(ucontent, rng.randrange(1 << 60, 1 << 62), pub_time, utopic, b"%d" % user_id, nick)
                deliver(arrive_key, body(ubody), utopic.encode(), born, getrandbits(128))
                self.deliveries += 1
            if redeliveries and random_() < 0.2:
                deliver(arrive_key, *redeliveries.pop(0), feed.randint(1, 3))
        last = arrival[-1][0] if arrival else 0.0
        for redelivery in redeliveries:
            deliver(last, *redelivery, feed.randint(1, 3))
