"""TOP request signing (jushita-messages.md §4.2): every parameter but ``sign`` and empty ones, sorted by name,
joined as name1value1name2value2…, UTF-8, digested, upper-case hex."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")
CHINA = timezone(timedelta(hours=8))
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def canonical(params: dict[str, str]) -> str:
    return "".join(f"{name}{value}" for name, value in sorted(params.items()) if name != "sign" and name and value not in (None, ""))


def sign(params: dict[str, str], secret: str, method: str = "md5") -> str:
    text = canonical(params).encode("utf-8")
    key = secret.encode("utf-8")
    if method == "md5":
        digest = hashlib.md5(key + text + key).digest()
    elif method == "hmac":
        digest = hmac.new(key, text, hashlib.md5).digest()
    elif method == "hmac-sha256":
        digest = hmac.new(key, text, hashlib.sha256).digest()
    else:
        raise ValueError(f"unknown sign_method {method!r}; use one of {', '.join(SIGN_METHODS)}")
    return digest.hex().upper()


def timestamp(now: datetime | None = None) -> str:
    """TOP's timestamp: China time (GMT+8), yyyy-MM-dd HH:mm:ss."""
    return (now or datetime.now(CHINA)).astimezone(CHINA).strftime(TIMESTAMP_FORMAT)
