"""The RocketMQ (ONS) source: the real C++ client (``rocketmq-client-python==0.5.0rc2``, which bundles
``librocketmq.so``). This is the only module that imports it.

Each message is appended to the durable landing log; the callback returns CONSUME_SUCCESS only after the log
has fsynced it, so the broker never advances past a message that is not on disk. Anything that goes wrong in
the callback answers RECONSUME_LATER and the broker redelivers.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from jushita_etl.landing.wal import Delivery, DurableLog

REPLAY_MSG_ID = "REPLAY_MSG_ID"
"""User property carrying a replayed delivery's original msg_id (the client always makes a new UNIQ_KEY)."""
LOG_LEVELS = {"fatal": 1, "error": 2, "warn": 3, "info": 4, "debug": 5, "trace": 6}


@dataclass
class MQSettings:
    namesrv: str
    group: str
    topic: str
    tags: str = "*"
    model: str = "clustering"
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)  # never printed
    channel: str = "CLOUD"
    threads: int = 8


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _body_reader():
    """The message body with its real length. The C API only offers a NUL-terminated ``const char*``, which would
    cut bodies at their first NUL byte; in this build (old libstdc++ COW-string ABI: no ``__cxx11`` symbols) the
    string's length is stored just before its characters, so it is read from there and checked for sanity."""
    import ctypes

    from rocketmq.ffi import dll

    get_body = dll["GetMessageBody"]  # a fresh function object, so the wrapper's c_char_p restype stays as it is
    get_body.argtypes, get_body.restype = [ctypes.c_void_p], ctypes.c_void_p

    def read(handle) -> bytes:
        ptr = get_body(handle)
        if not ptr:
            return b""
        text = ctypes.string_at(ptr)
        length = ctypes.c_size_t.from_address(ptr - 3 * ctypes.sizeof(ctypes.c_size_t)).value
        if len(text) <= length < (1 << 31) and ctypes.string_at(ptr + length, 1) == b"\0":
            return ctypes.string_at(ptr, length)
        return text

    return read


def redirect_client_logs(log_dir: Path) -> None:
    """The client writes to $HOME/logs/rocketmq-cpp/ (read when the first client object is created)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(log_dir)


class ConsumerStats:
    def __init__(self):
        self.lock = threading.Lock()
        self.landed = 0
        self.failed = 0
        self.first_at: float | None = None
        self.last_at: float | None = None

    def record(self, ok: bool) -> None:
        now = time.monotonic()
        with self.lock:
            if ok:
                self.landed += 1
            else:
                self.failed += 1
            self.first_at = self.first_at or now
            self.last_at = now


class MQConsumer:
    """A push consumer in one group that lands every message through ``log`` before acknowledging it."""

    def __init__(self, settings: MQSettings, log: DurableLog, *, log_dir: Path, log_level: str = "warn"):
        redirect_client_logs(log_dir)
        from rocketmq.client import ConsumeStatus, MessageModel, PushConsumer
        from rocketmq.ffi import _CLogLevel, dll

        self.settings, self.log = settings, log
        self.stats = ConsumerStats()
        self._status = ConsumeStatus
        model = MessageModel.BROADCASTING if settings.model == "broadcasting" else MessageModel.CLUSTERING
        self.consumer = PushConsumer(settings.group, message_model=model)
        self.consumer.set_namesrv_addr(settings.namesrv)
        self.consumer.set_thread_count(settings.threads)
        self.consumer.set_instance_name(f"jushita-{os.getpid()}")
        if settings.access_key:
            self.consumer.set_session_credentials(settings.access_key, settings.secret_key or "", settings.channel)
        dll.SetPushConsumerLogLevel(self.consumer._handle, _CLogLevel(LOG_LEVELS.get(log_level, 3)))
        self._read_body = _body_reader()
        self.consumer.subscribe(settings.topic, self._on_message, settings.tags or "*")

    def _on_message(self, msg):
        try:
            self.log.append(Delivery(
                mq_msg_id=_text(msg.get_property(REPLAY_MSG_ID)) or _text(msg.id), mq_topic=_text(msg.topic), tags=_text(msg.tags) or None,
                keys=_text(msg.keys) or None, queue_id=int(msg.queue_id), queue_offset=int(msg.queue_offset),
                born_timestamp=int(msg.born_timestamp), reconsume_times=int(msg.reconsume_times),
                body=self._read_body(msg._handle)))
        except Exception:  # noqa: BLE001 - not durable: let the broker deliver it again
            self.stats.record(False)
            return self._status.RECONSUME_LATER
        self.stats.record(True)
        return self._status.CONSUME_SUCCESS

    def start(self) -> None:
        self.consumer.start()

    def shutdown(self) -> None:
        self.consumer.shutdown()


class MQProducer:
    """The real producer with one sending thread (multi-threaded send_sync is broken in this client)."""

    def __init__(self, namesrv: str, group: str = "jushita-etl-publisher", *, access_key: str | None = None,
                 secret_key: str | None = None, channel: str = "CLOUD", log_dir: Path, log_level: str = "warn"):
        redirect_client_logs(log_dir)
        from rocketmq.client import Producer
        from rocketmq.ffi import _CLogLevel, dll

        self.producer = Producer(group)
        self.producer.set_namesrv_addr(namesrv)
        if access_key:
            self.producer.set_session_credentials(access_key, secret_key or "", channel)
        dll.SetProducerLogLevel(self.producer._handle, _CLogLevel(LOG_LEVELS.get(log_level, 3)))
        self._dll = dll
        self.producer.start()

    def send(self, topic: str, body: bytes, *, tags: str | None, keys: str | None, msg_id: str | None) -> None:
        from rocketmq.client import Message

        msg = Message(topic)
        try:
            if tags:
                msg.set_tags(tags)
            if keys:
                msg.set_keys(keys)
            if msg_id:  # a replayed delivery keeps its id (see REPLAY_MSG_ID)
                msg.set_property(REPLAY_MSG_ID, msg_id)
            self._dll.SetByteMessageBody(msg._handle, body, len(body))  # exact bytes, NULs included
            result = self.producer.send_sync(msg)
            if int(result.status) != 0:
                raise RuntimeError(f"send failed with status {result.status}")
        finally:
            msg.destroy()

    def shutdown(self) -> None:
        self.producer.shutdown()
