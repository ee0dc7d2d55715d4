"""The RocketMQ (ONS) source: the real C++ client (``rocketmq-client-python==0.5.0rc2``, which bundles
``librocketmq.so``). This is the only module that imports it.

Each message is appended to the durable landing log; the callback returns CONSUME_SUCCESS only after the log
has fsynced it, so the broker never advances past a message that is not on disk. Anything that goes wrong in
the callback answers RECONSUME_LATER and the broker redelivers. The callback is the native one
(``landing_callback.c``) when the log is a ``NativeLandingLog``, else the Python one below.

Long because: it is the one module that imports the client, so the consumer and the producer, which share its
library and its GIL-holding calls, sit together, and a new client version is read against one file.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rocketmq.client import ConsumeStatus, MessageModel, Producer, PushConsumer
from rocketmq.exceptions import ffi_check
from rocketmq.ffi import _DYLIB_PATH, MSG_CALLBACK_FUNC, _CLogLevel, _CSendResult, _CStatus, dll

from jushita_etl import native
from jushita_etl.landing.segment import Delivery
from jushita_etl.landing.wal import DurableLog, SegmentLog
from jushita_etl.mq.settings import MQSettings

REPLAY_MSG_ID = "REPLAY_MSG_ID"
"""User property carrying a replayed delivery's original msg_id (the client always makes a new UNIQ_KEY)."""
_REPLAY_KEY = REPLAY_MSG_ID.encode()
LOG_LEVELS = {"fatal": 1, "error": 2, "warn": 3, "info": 4, "debug": 5, "trace": 6}
CLIENT_LIBRARY: str = _DYLIB_PATH
"""The client library the wrapper loaded (``librocketmq.so``), for the C helpers that call or patch it."""
MessageCallback = MSG_CALLBACK_FUNC
"""The ctypes type of the client's per-message callback (``landing_callback.c``'s ``jwal_on_message`` is one)."""


def _gil_holding_function(name: str, restype, *argtypes):
    """A function of the client library through ``ctypes.PyDLL``: called without releasing the GIL, for calls that
    only read or set a field (releasing and re-taking it costs more than the call)."""
    function = ctypes.PyDLL(CLIENT_LIBRARY)[name]  # the library the wrapper loaded: dlopen returns the same handle
    function.restype, function.argtypes = restype, list(argtypes)
    return function


class _MessageReader:
    """Reads a received message's fields straight from the native library.

    The getters are loaded through ``ctypes.PyDLL``, which keeps the GIL across the call: each one only reads a
    field of the message object, and releasing and re-taking the GIL around ten such reads per message (what
    the wrapper's ``RecvMessage`` properties do) cost more than the reads themselves once several consume threads
    share it. Measured into a no-op log: 8.5k → 11k msg/s with 4 consume threads.
    """

    def __init__(self):
        def getter(name: str, restype, *argtypes):
            return _gil_holding_function(name, restype, ctypes.c_void_p, *argtypes)

        self.property = getter("GetMessageProperty", ctypes.c_char_p, ctypes.c_char_p)
        self.msg_id = getter("GetMessageId", ctypes.c_char_p)
        self.topic = getter("GetMessageTopic", ctypes.c_char_p)
        self.tags = getter("GetMessageTags", ctypes.c_char_p)
        self.keys = getter("GetMessageKeys", ctypes.c_char_p)
        self.queue_id = getter("GetMessageQueueId", ctypes.c_int)
        self.queue_offset = getter("GetMessageQueueOffset", ctypes.c_longlong)
        self.born_timestamp = getter("GetMessageBornTimestamp", ctypes.c_longlong)
        self.reconsume_times = getter("GetMessageReconsumeTimes", ctypes.c_int)
        self._body = getter("GetMessageBody", ctypes.c_void_p)  # a pointer, not c_char_p: NULs must survive

    def body(self, handle) -> bytes:
        """The message body with its real length. The C API only offers a NUL-terminated ``const char*``, which
        would cut bodies at their first NUL byte; in this build (old libstdc++ COW-string ABI: no ``__cxx11``
        symbols) the string's length is stored just before its characters, so it is read from there and checked
        for sanity."""
        ptr = self._body(handle)
        if not ptr:
            return b""
        text = ctypes.string_at(ptr)
        length = ctypes.c_size_t.from_address(ptr - 3 * ctypes.sizeof(ctypes.c_size_t)).value
        if len(text) <= length < (1 << 31) and ctypes.string_at(ptr + length, 1) == b"\0":
            return ctypes.string_at(ptr, length)
        return text

    def delivery(self, handle) -> Delivery:
        # a replayed delivery keeps the msg_id it had when it was first landed (see REPLAY_MSG_ID)
        msg_id = self.property(handle, _REPLAY_KEY) or self.msg_id(handle)
        return Delivery(
            mq_msg_id=msg_id.decode("utf-8", "replace"), mq_topic=_text(self.topic(handle)),
            tags=_text(self.tags(handle)) or None, keys=_text(self.keys(handle)) or None,
            queue_id=self.queue_id(handle), queue_offset=self.queue_offset(handle),
            born_timestamp=self.born_timestamp(handle), reconsume_times=self.reconsume_times(handle),
            body=self.body(handle))


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def prepare_client_environment(log_dir: Path) -> None:
    """Before the first client object: where its log goes and how it reads the time zone.

    The client writes to $HOME/logs/rocketmq-cpp/. And it converts local times (``localtime``, and ``mktime``
    for every message id on the last day of a month: see ``fix_client_mktime``); with TZ unset glibc re-reads
    /etc/localtime on each conversion (a stat and a zone-file check), which measured 15-25% of the producer's
    CPU. ``TZ=:/etc/localtime`` names the same zone, read once."""
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(log_dir)
    if "TZ" not in os.environ and Path("/etc/localtime").exists():
        os.environ["TZ"] = ":/etc/localtime"
        time.tzset()


_mktime_fixed = False
MKTIME_SOURCE = Path(__file__).resolve().with_name("client_mktime.c")


def fix_client_mktime() -> bool:
    """Work around the client's month-end slowdown (``client_mktime.c``): on the last day of every month it calls
    ``mktime`` with an uninitialised DST flag for every message id, ~90 µs each. Once per process; False when the
    fix could not be applied (no C compiler, or a client library laid out differently): slower, same messages."""
    global _mktime_fixed
    if not _mktime_fixed:
        try:
            lib = ctypes.CDLL(str(native.build(MKTIME_SOURCE)))
        except native.NativeUnavailable:
            return False
        lib.jmk_patch.argtypes = [ctypes.c_char_p]
        _mktime_fixed = lib.jmk_patch(CLIENT_LIBRARY.encode()) == 1
    return _mktime_fixed


class ConsumerStats:
    """Counts of the Python callback (the native log counts its own: ``NativeStats``)."""

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


class NativeStats:
    """The same counts as ``ConsumerStats``, read from the native log."""

    def __init__(self, log):
        self._log = log

    landed = property(lambda self: self._log.stats().landed)
    failed = property(lambda self: self._log.stats().rejected)
    first_at = property(lambda self: self._log.stats().first_at)
    last_at = property(lambda self: self._log.stats().last_at)


class MQConsumer:
    """A push consumer in one group that lands every message through ``log`` before acknowledging it."""

    def __init__(self, settings: MQSettings, log: SegmentLog, *, log_dir: Path, log_level: str = "warn"):
        if _abandoned:  # its held consume threads keep the native log bindings locked for good
            raise RuntimeError("a consumer of this process stopped on a failed landing log and holds its messages "
                               "until the process ends: start another process")
        prepare_client_environment(log_dir)
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
        if isinstance(log, DurableLog):
            self._reader = _MessageReader()
            self.consumer.subscribe(settings.topic, self._on_message, settings.tags or "*")
        else:  # the native callback: no Python per message
            self.stats = NativeStats(log)
            log.bind(self.consumer._handle)
            ffi_check(dll.Subscribe(self.consumer._handle, settings.topic.encode(), (settings.tags or "*").encode()))
            ffi_check(dll.RegisterMessageCallback(self.consumer._handle, log.callback))

    def _on_message(self, msg):
        try:
            self.log.append(self._reader.delivery(msg._handle))
        except Exception:  # noqa: BLE001 - not durable: let the broker deliver it again
            self.stats.record(False)
            if self.log.refusing:  # held, never sent back: see hold_locked in landing_callback.c
                threading.Event().wait()
            return self._status.RECONSUME_LATER
        self.stats.record(True)
        return self._status.CONSUME_SUCCESS

    def start(self) -> None:
        self.consumer.start()

    def shutdown(self) -> None:
        self.consumer.shutdown()

    def abandon(self) -> None:
        """Never shut this client down: its consume threads hold messages the failed log refused, and the
        client's shutdown would wait for them, then commit its offsets. The process ends at exit without the
        client's shutdown or destructors (exit status 1), as a crash would, and the broker delivers every
        unacknowledged message again to the next consumer."""
        _abandoned.append(self.consumer)  # its destructor would shut it down
        atexit.register(_end_without_client_shutdown)


_abandoned: list = []


def _end_without_client_shutdown() -> None:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


class _MessageBuilder:
    """The message-building calls of the native library, holding the GIL and returning plain ints: the wrapper's
    own bindings turn every status into an enum member (five per message, 1.5 µs each, measured as a
    tenth of the producer's time once the client's month-end mktime was out of the way)."""

    def __init__(self):
        call = _gil_holding_function
        pointer, text, size = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        self.create = call("CreateMessage", pointer, text)
        self.tags = call("SetMessageTags", size, pointer, text)
        self.keys = call("SetMessageKeys", size, pointer, text)
        self.property = call("SetMessageProperty", size, pointer, text, text)
        self.body = call("SetByteMessageBody", size, pointer, text, size)
        self.add = call("AddMessage", size, pointer, pointer)
        self.destroy = call("DestroyMessage", size, pointer)


@dataclass(frozen=True)
class OutgoingMessage:
    body: bytes
    tags: str | None = None
    keys: str | None = None
    msg_id: str | None = None  # a replayed delivery keeps its id (see REPLAY_MSG_ID)


class MQProducer:
    """The real producer with one sending thread (multi-threaded send_sync is broken in this client).

    ``send`` is one synchronous round trip per message; ``send_batch`` sends many messages of one topic in one
    synchronous request (the C API's SendBatchMessage, which the 0.5.0rc2 wrapper does not expose): the broker
    has stored all of them when it returns, at a fraction of the per-message cost.
    """

    def __init__(self, namesrv: str, group: str = "jushita-etl-publisher", *, access_key: str | None = None,
                 secret_key: str | None = None, channel: str = "CLOUD", log_dir: Path, log_level: str = "warn"):
        prepare_client_environment(log_dir)
        fix_client_mktime()

        self.producer = Producer(group)
        self.producer.set_namesrv_addr(namesrv)
        if access_key:
            self.producer.set_session_credentials(access_key, secret_key or "", channel)
        dll.SetProducerLogLevel(self.producer._handle, _CLogLevel(LOG_LEVELS.get(log_level, 3)))
        self._build = _MessageBuilder()
        self.producer.start()

    def _message(self, topic: bytes, message: OutgoingMessage):
        """A native message handle (the caller destroys it)."""
        build = self._build
        handle = build.create(topic)
        if message.tags:
            build.tags(handle, message.tags.encode())
        if message.keys:
            build.keys(handle, message.keys.encode())
        if message.msg_id:
            build.property(handle, _REPLAY_KEY, message.msg_id.encode())
        build.body(handle, message.body, len(message.body))  # exact bytes, NULs included
        return handle

    def send(self, topic: str, body: bytes, *, tags: str | None, keys: str | None, msg_id: str | None) -> None:
        handle = self._message(topic.encode(), OutgoingMessage(body, tags, keys, msg_id))
        try:
            result = self.producer.send_sync(handle)
            if int(result.status) != 0:
                raise RuntimeError(f"send failed with status {result.status}")
        finally:
            self._build.destroy(handle)

    def send_batch(self, topic: str, messages: list[OutgoingMessage]) -> None:
        """Send ``messages`` to ``topic`` in one request; returns once the broker stored them all."""
        batch = dll.CreateBatchMessage()
        try:
            encoded_topic = topic.encode()
            for message in messages:
                handle = self._message(encoded_topic, message)
                try:
                    status = self._build.add(batch, handle)  # copies the message into the batch
                finally:
                    self._build.destroy(handle)
                if status != 0:
                    raise RuntimeError(f"could not add a message to the batch (status {status})")
            result = _CSendResult()
            status = dll.SendBatchMessage(self.producer._handle, batch, ctypes.pointer(result))
            if int(status) != 0 or result.sendStatus != 0:
                error = (dll.GetLatestErrorMessage() or b"").decode("utf-8", "replace").strip()
                code = _CStatus(int(status)).name if int(status) in set(_CStatus) else int(status)
                raise RuntimeError(f"the broker did not confirm a batch of {len(messages)} messages "
                                   f"({code}, send status {result.sendStatus}){': ' + error if error else ''}")
        finally:
            dll.DestroyBatchMessage(batch)

    def shutdown(self) -> None:
        self.producer.shutdown()

    # The client allows one started producer per group and process: a producer left running by a failed send
    # would refuse every later one.
    def __enter__(self) -> "MQProducer":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
