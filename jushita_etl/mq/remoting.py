"""The RocketMQ remoting wire format as the bundled C++ client speaks it (spec: rocketmq-remoting.md §2).

Frame: 4-byte big-endian length of what follows, 4-byte header length (serialize type 0 = JSON in the top byte),
the JSON header, then the body. Response extFields are always strings: the client reads numbers as 0.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import functools
import json
import socket
import struct
from dataclasses import dataclass, field

# request codes
SEND_MESSAGE, PULL_MESSAGE, QUERY_CONSUMER_OFFSET, UPDATE_CONSUMER_OFFSET = 10, 11, 14, 15
SEARCH_OFFSET_BY_TIMESTAMP, GET_MAX_OFFSET, GET_MIN_OFFSET, GET_EARLIEST_MSG_STORETIME = 29, 30, 31, 32
HEART_BEAT, UNREGISTER_CLIENT, CONSUMER_SEND_MSG_BACK, GET_CONSUMER_LIST_BY_GROUP = 34, 35, 36, 38
NOTIFY_CONSUMER_IDS_CHANGED, LOCK_BATCH_MQ, UNLOCK_BATCH_MQ = 40, 41, 42
GET_ROUTEINFO_BY_TOPIC, SEND_MESSAGE_V2 = 105, 310
# response codes
SUCCESS, SYSTEM_ERROR, REQUEST_CODE_NOT_SUPPORTED, NO_PERMISSION, TOPIC_NOT_EXIST = 0, 1, 3, 16, 17
PULL_NOT_FOUND, PULL_RETRY_IMMEDIATELY, PULL_OFFSET_MOVED, QUERY_NOT_FOUND = 19, 20, 21, 22

RESPONSE_FLAG, ONEWAY_FLAG = 1, 2
V2_FIELDS = dict(zip("abcdefghijklm", ["producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId",
                                       "sysFlag", "bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode",
                                       "maxReconsumeTimes", "batch"]))
NAME_SEP, PROP_SEP = "\x01", "\x02"


@dataclass
class Command:
    code: int
    opaque: int = 0
    flag: int = 0
    remark: str | None = None
    ext: dict = field(default_factory=dict)
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return bool(self.flag & RESPONSE_FLAG)


def encode(cmd: Command, *, language: str = "JAVA") -> bytes:
    header = {"code": cmd.code, "flag": cmd.flag, "language": language, "opaque": cmd.opaque, "version": 0,
              "serializeTypeCurrentRPC": "JSON",
              "extFields": {k: str(v) for k, v in cmd.ext.items()}}
    if cmd.remark is not None:
        header["remark"] = cmd.remark
    raw = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    return struct.pack(">II", 4 + len(raw) + len(cmd.body), len(raw) & 0xFFFFFF) + raw + cmd.body


def decode(frame: bytes) -> Command:
    """``frame`` is everything after the 4-byte total length."""
    (header_len,) = struct.unpack(">I", frame[:4])
    header_len &= 0xFFFFFF
    header = json.loads(frame[4:4 + header_len])
    return Command(code=header.get("code", 0), opaque=header.get("opaque", 0), flag=header.get("flag", 0),
                   remark=header.get("remark"), ext=header.get("extFields") or {}, body=frame[4 + header_len:])


def ext_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def signature(ext: dict, body: bytes, secret: str) -> str:
    """ONS session-credential signature: HMAC-SHA1 over the sorted extFields values (+ body), base64."""
    content = "".join(ext_value(ext[k]) for k in sorted(ext) if k != "Signature").encode() + body
    return base64.b64encode(hmac.new(secret.encode(), content, hashlib.sha1).digest()).decode()


def parse_properties(text: str) -> dict[str, str]:
    props = {}
    for item in text.split(PROP_SEP):
        if NAME_SEP in item:
            key, value = item.split(NAME_SEP, 1)
            props[key] = value
    return props


def format_properties(props: dict[str, str]) -> str:
    return "".join(f"{k}{NAME_SEP}{v}{PROP_SEP}" for k, v in props.items())


def split_batch(body: bytes) -> list[tuple[int, bytes, str]]:
    """The messages of a batch send as (flag, body, properties): each encoded as total size, magic code, body CRC,
    flag, body length (ints, big-endian), the body, a short properties length and the properties."""
    messages, pos = [], 0
    while pos + 20 <= len(body):
        size, _magic, _crc, flag, body_len = struct.unpack_from(">iiiii", body, pos)
        if size < 22 + body_len or body_len < 0:
            raise ValueError(f"malformed batch: a message of {size} bytes at offset {pos}")
        start = pos + 20
        (props_len,) = struct.unpack_from(">h", body, start + body_len)
        props = body[start + body_len + 2: start + body_len + 2 + props_len].decode("utf-8", "replace")
        messages.append((flag, body[start:start + body_len], props))
        pos += size
    return messages


@functools.lru_cache(maxsize=1024)  # a handful of addresses, encoded into every message pulled
def host_bytes(address: str) -> bytes:
    host, port = address.rsplit(":", 1)
    return socket.inet_aton(host) + struct.pack(">I", int(port))


def offset_msg_id(store_host: str, physical_offset: int) -> str:
    return (host_bytes(store_host) + struct.pack(">q", physical_offset)).hex().upper()


class ProbeError(RuntimeError):
    pass


def probe_route(namesrv: str, topic: str, *, access_key: str | None, secret_key: str | None,
                channel: str = "CLOUD", timeout: float = 5.0, topic_must_exist: bool = False) -> None:
    """Ask the name server for a topic's route, signed like the client signs it, and fail with a clear message
    if it cannot be reached or rejects the credentials. The C++ client itself only logs such failures.

    ``topic_must_exist``: a consumer's probe, for which an unknown topic is an error (it would wait forever); a
    producer's first send may still create the topic (``autoCreateTopicEnable``), so publishing accepts it."""
    host, port = namesrv.rsplit(":", 1)
    ext = {"topic": topic, "AccessKey": access_key or "", "OnsChannel": channel if access_key else "ALIYUN"}
    ext["Signature"] = signature(ext, b"", secret_key or "")
    request = Command(GET_ROUTEINFO_BY_TOPIC, opaque=1, ext=ext)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(encode(request, language="CPP"))
            head = _recv_exactly(sock, 4)
            response = decode(_recv_exactly(sock, struct.unpack(">I", head)[0]))
    except OSError as exc:
        raise ProbeError(f"cannot reach the RocketMQ name server at {namesrv}: {exc}") from None
    if response.code == NO_PERMISSION:
        raise ProbeError(f"the broker at {namesrv} rejected the credentials of AccessKey {access_key!r} "
                         f"(NO_PERMISSION: {response.remark}); check the SecretKey")
    if response.code == TOPIC_NOT_EXIST and topic_must_exist:
        raise ProbeError(f"the name server at {namesrv} knows no topic {topic!r} (TOPIC_NOT_EXIST): check "
                         "the topic name and that it is created for this instance")
    if response.code not in (SUCCESS, TOPIC_NOT_EXIST):
        raise ProbeError(f"the name server at {namesrv} answered code {response.code}: {response.remark}")


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data
