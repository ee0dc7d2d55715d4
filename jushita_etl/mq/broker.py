"""A local RocketMQ name server + broker for development and tests — NOT a production broker.

One asyncio process on 127.0.0.1 serves both roles for the real C++ client (spec: rocketmq-remoting.md): routes
with topic auto-create, send (single and batch), pull with long polling, tag filtering on tag strings, offsets per consumer group,
heartbeats and group membership with NOTIFY_CONSUMER_IDS_CHANGED, send-back to ``%RETRY%group`` with scaled delays
and ``%DLQ%group`` after the maximum, optional signature enforcement, and (with a store directory) an append-only
message log plus offsets on disk, so a restart loses nothing (``broker_store.py``). This module holds the request
handlers, one method per request code.

Long because: the handlers share the broker's state (queues, members, waiting pulls) and read best side by side,
one per request code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import struct
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from jushita_etl.mq import remoting as rm
from jushita_etl.mq.broker_store import Record, Store

log = logging.getLogger("jushita_etl.broker")
DELAY_LEVELS = [1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200]


def tag_filter(subscription: str | None):
    """The subscription expression as a predicate on a message's tag string ('*' or 'A || B')."""
    if not subscription or subscription.strip() in ("", "*"):
        return lambda tags: True
    wanted = {t.strip() for t in subscription.split("||") if t.strip()}
    return lambda tags: tags in wanted


@dataclass
class Member:
    client_id: str
    writer: asyncio.StreamWriter
    last_seen: float


class Broker:
    def __init__(self, host: str = "127.0.0.1", port: int = 9876, *, store: Path | None = None,
                 secret: str | None = None, delay_scale: float = 1.0, max_reconsume: int = 16,
                 new_group_from: str = "first"):
        self.host, self.port = host, port
        self.store = Store(store)
        self.secret = secret
        self.delay_scale = delay_scale
        self.max_reconsume = max_reconsume
        self.new_group_from = new_group_from
        self.groups: dict[str, dict[str, Member]] = defaultdict(dict)
        self.arrivals: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.server: asyncio.base_events.Server | None = None
        self._opaque = 1_000_000

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host, self.port, limit=1 << 24)
        self.port = self.server.sockets[0].getsockname()[1]
        asyncio.get_running_loop().create_task(self._housekeeping())
        log.info("dev broker (name server + broker) listening on %s", self.address)

    async def close(self) -> None:
        if self.server:
            self.server.close()
        self.store.close()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.store.save_offsets()
            now = time.monotonic()
            for group, members in list(self.groups.items()):
                stale = [cid for cid, m in members.items() if now - m.last_seen > 120]
                for cid in stale:
                    members.pop(cid, None)
                if stale:
                    await self._notify(group)
            for topic, queues in self.store.queues.items():  # wake pulls waiting for retry messages that came due
                if topic.startswith("%RETRY%") and any(r.deliver_at and r.deliver_at <= time.time() for q in queues for r in q[-64:]):
                    self.arrivals[topic].set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lock = asyncio.Lock()
        tasks = set()
        try:
            while True:
                head = await reader.readexactly(4)
                (length,) = struct.unpack(">I", head)
                cmd = rm.decode(await reader.readexactly(length))
                if cmd.is_response:
                    continue
                task = asyncio.create_task(self._handle(cmd, writer, lock))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            for group, members in list(self.groups.items()):  # a closed connection (kill -9) leaves its groups
                gone = [cid for cid, m in members.items() if m.writer is writer]
                for cid in gone:
                    members.pop(cid, None)
                if gone:
                    await self._notify(group)
            writer.close()

    async def _handle(self, cmd: rm.Command, writer: asyncio.StreamWriter, lock: asyncio.Lock) -> None:
        try:
            if self.secret is not None and not self._signed(cmd):
                response = rm.Command(rm.NO_PERMISSION, remark="signature mismatch: wrong AccessKey secret")
            else:
                handler = self.HANDLERS.get(cmd.code)
                response = await handler(self, cmd, writer) if handler else rm.Command(
                    rm.REQUEST_CODE_NOT_SUPPORTED, remark=f"request code {cmd.code} not supported by the dev broker")
        except Exception as exc:  # noqa: BLE001 - an answer beats a hung client
            log.exception("request %s failed", cmd.code)
            response = rm.Command(rm.SYSTEM_ERROR, remark=str(exc))
        if response is None:
            return
        response.opaque, response.flag = cmd.opaque, rm.RESPONSE_FLAG
        async with lock:
            try:
                writer.write(rm.encode(response))
                await writer.drain()
            except ConnectionError:
                pass

    def _signed(self, cmd: rm.Command) -> bool:
        given = cmd.ext.get("Signature")
        return given is not None and given == rm.signature(cmd.ext, cmd.body, self.secret)

    # --- name server ------------------------------------------------------------------------------------
    async def route(self, cmd, writer):
        topic = cmd.ext.get("topic", "")
        queues = len(self.store.ensure_topic(topic))
        body = {"orderTopicConf": "", "filterServerTable": {},
                "queueDatas": [{"brokerName": "dev-broker", "readQueueNums": queues, "writeQueueNums": queues,
                                "perm": 6, "topicSynFlag": 0}],
                "brokerDatas": [{"cluster": "DevCluster", "brokerName": "dev-broker", "brokerAddrs": {"0": self.address}}]}
        return rm.Command(rm.SUCCESS, body=json.dumps(body).encode())

    # --- producer -----------------------------------------------------------------------------------------
    async def send(self, cmd, writer):
        ext = cmd.ext if cmd.code == rm.SEND_MESSAGE else {V: cmd.ext.get(k) for k, V in rm.V2_FIELDS.items()}
        topic = ext["topic"]
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        common = dict(topic=topic, queue_id=int(ext.get("queueId") or 0), sys_flag=int(ext.get("sysFlag") or 0),
                      born_timestamp=int(ext.get("bornTimestamp") or 0), born_host=f"{peer[0]}:{peer[1]}",
                      reconsume_times=int(ext.get("reconsumeTimes") or 0))
        if str(ext.get("batch")).lower() in ("1", "true"):
            # one request, many messages (SendBatchMessage): all go to the queue the request names, in order
            records = [self.store.append(**common, flag=flag, properties=props, body=body, deliver_at=0.0)
                       for flag, body, props in rm.split_batch(cmd.body)]
        else:
            props = rm.parse_properties(ext.get("properties") or "")
            delay = 0.0
            if props.get("DELAY"):
                delay = DELAY_LEVELS[min(int(props["DELAY"]), len(DELAY_LEVELS)) - 1] * self.delay_scale
            records = [self.store.append(**common, flag=int(ext.get("flag") or 0),
                                         properties=ext.get("properties") or "", body=cmd.body,
                                         deliver_at=time.time() + delay if delay else 0.0)]
        if not records:
            return rm.Command(rm.SYSTEM_ERROR, remark="a batch without messages")
        self.store.flush()
        self.arrivals[topic].set()
        return rm.Command(rm.SUCCESS, ext={
            "msgId": ",".join(rm.offset_msg_id(self.address, r.physical_offset) for r in records),
            "queueId": records[0].queue_id, "queueOffset": records[0].queue_offset})

    # --- consumers ----------------------------------------------------------------------------------------
    async def heartbeat(self, cmd, writer):
        data = json.loads(cmd.body or b"{}")
        client_id = data.get("clientID", "")
        for consumer in data.get("consumerDataSet") or []:
            group = consumer.get("groupName", "")
            members = self.groups[group]
            known = client_id in members
            members[client_id] = Member(client_id, writer, time.monotonic())
            if not known:
                await self._notify(group, skip=client_id)
        return rm.Command(rm.SUCCESS)

    async def unregister(self, cmd, writer):
        group = cmd.ext.get("consumerGroup")
        if group and self.groups[group].pop(cmd.ext.get("clientID", ""), None):
            await self._notify(group)
        return rm.Command(rm.SUCCESS)

    async def _notify(self, group: str, skip: str | None = None) -> None:
        """Tell the group's other members to rebalance now, so no two consumers read a queue for long."""
        for member in list(self.groups[group].values()):
            if member.client_id == skip:
                continue
            self._opaque += 1
            note = rm.Command(rm.NOTIFY_CONSUMER_IDS_CHANGED, opaque=self._opaque, flag=rm.ONEWAY_FLAG,
                              ext={"consumerGroup": group})
            try:
                member.writer.write(rm.encode(note))
            except (ConnectionError, RuntimeError):
                pass

    async def consumer_list(self, cmd, writer):
        ids = sorted(self.groups.get(cmd.ext.get("consumerGroup", ""), {}))
        return rm.Command(rm.SUCCESS, body=json.dumps({"consumerIdList": ids}).encode())

    async def query_offset(self, cmd, writer):
        group, topic, queue_id = cmd.ext.get("consumerGroup"), cmd.ext.get("topic"), int(cmd.ext.get("queueId", 0))
        offset = self.store.get_offset(group, topic, queue_id)
        if offset is None:
            if self.new_group_from == "last" and not topic.startswith("%RETRY%"):
                return rm.Command(rm.QUERY_NOT_FOUND, remark="no offset for this group yet")
            offset = 0  # like the Java broker: a new group starts at the beginning of the queue
        return rm.Command(rm.SUCCESS, ext={"offset": offset})

    async def update_offset(self, cmd, writer):
        self.store.set_offset(cmd.ext.get("consumerGroup"), cmd.ext.get("topic"), int(cmd.ext.get("queueId", 0)),
                              int(cmd.ext.get("commitOffset", 0)))
        return rm.Command(rm.SUCCESS)

    def _queue(self, cmd) -> list[Record]:
        queues = self.store.ensure_topic(cmd.ext.get("topic", ""))
        queue_id = int(cmd.ext.get("queueId", 0))
        return queues[queue_id] if queue_id < len(queues) else []

    async def max_offset(self, cmd, writer):
        return rm.Command(rm.SUCCESS, ext={"offset": len(self._queue(cmd))})

    async def min_offset(self, cmd, writer):
        return rm.Command(rm.SUCCESS, ext={"offset": 0})

    async def search_offset(self, cmd, writer):
        queue, ts = self._queue(cmd), int(cmd.ext.get("timestamp", 0))
        offset = next((r.queue_offset for r in queue if r.store_timestamp >= ts), len(queue))
        return rm.Command(rm.SUCCESS, ext={"offset": offset})

    async def earliest_time(self, cmd, writer):
        queue = self._queue(cmd)
        return rm.Command(rm.SUCCESS, ext={"timestamp": queue[0].store_timestamp if queue else 0})

    async def pull(self, cmd, writer):
        ext = cmd.ext
        group, topic, queue_id = ext.get("consumerGroup"), ext.get("topic"), int(ext.get("queueId", 0))
        offset, max_nums = int(ext.get("queueOffset", 0)), int(ext.get("maxMsgNums", 32))
        sys_flag = int(ext.get("sysFlag", 0))
        if sys_flag & 1 and int(ext.get("commitOffset", 0) or 0) > 0:
            self.store.set_offset(group, topic, queue_id, int(ext["commitOffset"]))
        wanted = tag_filter(ext.get("subscription"))
        deadline = time.monotonic() + (int(ext.get("suspendTimeoutMillis", 15000)) / 1000 if sys_flag & 2 else 0)
        while True:
            queue = self._queue(cmd)
            size = len(queue)
            if offset > size or (offset == size and size == 0 and offset != 0):
                return self._pull_answer(rm.PULL_OFFSET_MOVED, 0, size)  # min offset: re-read rather than skip
            if offset < size:
                found, scanned, now = [], offset, time.time()
                for index in range(offset, size):
                    record = queue[index]
                    if record.deliver_at and record.deliver_at > now:
                        break  # a retry not yet due: later ones in this queue wait behind it
                    scanned = record.queue_offset + 1
                    if wanted(record.tags):
                        found.append(record)
                        if len(found) >= max_nums:
                            break
                if found:
                    body = b"".join(r.encode(self.address) for r in found)
                    return self._pull_answer(rm.SUCCESS, scanned, size, body)
                if scanned > offset:
                    return self._pull_answer(rm.PULL_RETRY_IMMEDIATELY, scanned, size)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._pull_answer(rm.PULL_NOT_FOUND, offset, size)
            event = self.arrivals[topic]
            event.clear()
            try:  # long polling: hold the pull until a message arrives or the suspend time is up
                await asyncio.wait_for(event.wait(), timeout=min(remaining, 1.0))
            except asyncio.TimeoutError:
                pass

    @staticmethod
    def _pull_answer(code: int, next_offset: int, max_offset: int, body: bytes = b"") -> rm.Command:
        return rm.Command(code, ext={"nextBeginOffset": next_offset, "minOffset": 0, "maxOffset": max_offset,
                                     "suggestWhichBrokerId": 0}, body=body)

    async def send_back(self, cmd, writer):
        group = cmd.ext.get("group", "")
        record = self.store.by_physical.get(int(cmd.ext.get("offset", -1)))
        if record is None:
            return rm.Command(rm.SYSTEM_ERROR, remark="no message at that commit-log offset")
        props = rm.parse_properties(record.properties)
        props.setdefault("RETRY_TOPIC", record.topic)
        props.setdefault("ORIGIN_MESSAGE_ID", rm.offset_msg_id(self.address, record.physical_offset))
        reconsume = record.reconsume_times + 1
        if reconsume > self.max_reconsume:
            topic, deliver_at = f"%DLQ%{group}", 0.0
        else:
            topic = f"%RETRY%{group}"
            level = min(3 + record.reconsume_times, len(DELAY_LEVELS))
            deliver_at = time.time() + DELAY_LEVELS[level - 1] * self.delay_scale
        self.store.append(topic=topic, queue_id=0, flag=record.flag, sys_flag=record.sys_flag,
                          born_timestamp=record.born_timestamp, born_host=record.born_host,
                          reconsume_times=reconsume, properties=rm.format_properties(props), body=record.body,
                          deliver_at=deliver_at)
        self.store.flush()
        return rm.Command(rm.SUCCESS)

    async def lock_batch(self, cmd, writer):
        data = json.loads(cmd.body or b"{}")
        return rm.Command(rm.SUCCESS, body=json.dumps({"lockOKMQSet": data.get("mqSet", [])}).encode())

    async def unlock_batch(self, cmd, writer):
        return rm.Command(rm.SUCCESS)

    HANDLERS = {
        rm.GET_ROUTEINFO_BY_TOPIC: route, rm.SEND_MESSAGE: send, rm.SEND_MESSAGE_V2: send,
        rm.HEART_BEAT: heartbeat, rm.UNREGISTER_CLIENT: unregister, rm.GET_CONSUMER_LIST_BY_GROUP: consumer_list,
        rm.QUERY_CONSUMER_OFFSET: query_offset, rm.UPDATE_CONSUMER_OFFSET: update_offset,
        rm.GET_MAX_OFFSET: max_offset, rm.GET_MIN_OFFSET: min_offset, rm.SEARCH_OFFSET_BY_TIMESTAMP: search_offset,
        rm.GET_EARLIEST_MSG_STORETIME: earliest_time, rm.PULL_MESSAGE: pull, rm.CONSUMER_SEND_MSG_BACK: send_back,
        rm.LOCK_BATCH_MQ: lock_batch, rm.UNLOCK_BATCH_MQ: unlock_batch,
    }


async def serve(broker: Broker, ready=None) -> None:
    await broker.start()
    if ready:
        ready(broker)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.close()
