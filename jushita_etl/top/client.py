"""A TOP client for the Jushita JMS APIs: form POST, signed, JSON responses, careful retries.

Retries (with exponential backoff) happen only on transport errors and on throttling / ISP-busy answers;
signature, session and argument errors are final. Secrets are never logged: ``describe`` masks them.
"""

from __future__ import annotations

import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import orjson

from jushita_etl.top.signing import SIGN_METHODS, sign, timestamp

DEFAULT_URL = "https://gw.api.taobao.com/router/rest"
RETRYABLE_CODES = {7, 10}  # App Call Limited, Service Currently Unavailable
SECRET_PARAMS = {"session", "sign"}


class TopError(Exception):
    def __init__(self, api: str, code, msg: str, sub_code: str | None = None, sub_msg: str | None = None):
        self.api, self.code, self.msg, self.sub_code, self.sub_msg = api, code, msg, sub_code, sub_msg
        super().__init__(f"{api} failed: {sub_msg or msg} (code {code}{', ' + sub_code if sub_code else ''})")

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES or (self.sub_code or "").startswith("isp.")


class TopTransportError(Exception):
    pass


def mask(value: str | None) -> str:
    return "***" if value else ""


@dataclass
class TopClient:
    app_key: str
    app_secret: str = field(repr=False)
    url: str = DEFAULT_URL
    sign_method: str = "md5"
    session: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    debug: callable = None

    @classmethod
    def from_env(cls, **overrides) -> "TopClient":
        env = os.environ.get
        settings = {"app_key": env("JUSHITA_APP_KEY", ""), "app_secret": env("JUSHITA_APP_SECRET", ""),
                    "url": env("JUSHITA_TOP_URL", DEFAULT_URL), "sign_method": env("JUSHITA_TOP_SIGN_METHOD", "md5"),
                    "session": env("JUSHITA_SESSION_KEY") or None}
        settings.update({k: v for k, v in overrides.items() if v is not None})
        if not settings["app_key"] or not settings["app_secret"]:
            raise ValueError("set JUSHITA_APP_KEY and JUSHITA_APP_SECRET")
        if settings["sign_method"] not in SIGN_METHODS:
            raise ValueError(f"unknown sign method {settings['sign_method']!r}; use one of {', '.join(SIGN_METHODS)}")
        return cls(**settings)

    def request_params(self, api: str, params: dict, *, session: str | None = None) -> dict[str, str]:
        system = {"method": api, "app_key": self.app_key, "timestamp": timestamp(), "v": "2.0", "format": "json",
                  "sign_method": self.sign_method}
        session = session or self.session
        if session:
            system["session"] = session
        merged = {**system, **{k: _param(v) for k, v in params.items() if v is not None}}
        merged["sign"] = sign(merged, self.app_secret, self.sign_method)
        return merged

    def describe(self, params: dict[str, str]) -> str:
        return " ".join(f"{k}={mask(v) if k in SECRET_PARAMS else v}" for k, v in sorted(params.items()))

    def call(self, api: str, params: dict | None = None, *, session: str | None = None) -> dict:
        """The ``<api>_response`` object of a successful call; TopError otherwise."""
        attempt = 0
        while True:
            attempt += 1
            request = self.request_params(api, params or {}, session=session)  # fresh timestamp and sign per try
            if self.debug:
                self.debug(f"POST {self.url} {self.describe(request)}")
            try:
                return self._parse(api, self._post(request))
            except (TopTransportError, TopError) as exc:
                retry = isinstance(exc, TopTransportError) or exc.retryable
                if not retry or attempt > self.retries:
                    raise
                time.sleep(self.backoff * 2 ** (attempt - 1) * (1 + random.random() * 0.2))

    def _post(self, params: dict[str, str]) -> bytes:
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(self.url, data=data, headers={
            "Content-Type": "application/x-www-form-urlencoded;charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise TopTransportError(f"HTTP {exc.code} from {self.url}") from None
            return exc.read()
        except (urllib.error.URLError, socket.timeout, ConnectionError) as exc:
            raise TopTransportError(f"cannot reach {self.url}: {getattr(exc, 'reason', exc)}") from None

    @staticmethod
    def _parse(api: str, raw: bytes) -> dict:
        try:
            payload = orjson.loads(raw)  # exact 64-bit integers
        except orjson.JSONDecodeError:
            raise TopTransportError(f"{api}: the gateway answered something that is not JSON") from None
        if "error_response" in payload:
            err = payload["error_response"]
            raise TopError(api, err.get("code"), err.get("msg", ""), err.get("sub_code"), err.get("sub_msg"))
        key = api.removeprefix("taobao.").replace(".", "_") + "_response"
        if key not in payload:
            raise TopTransportError(f"{api}: no {key} in the answer")
        return payload[key]

    # --- the Jushita JMS APIs -------------------------------------------------------------------------
    def user_add(self, topics: list[str] | None = None, *, session: str | None = None) -> dict:
        return self.call("taobao.jushita.jms.user.add", {"topic_names": ",".join(topics) if topics else None}, session=session)

    def user_delete(self, nick: str) -> dict:
        return self.call("taobao.jushita.jms.user.delete", {"user_nick": nick})

    def user_get(self, nick: str) -> dict:
        return self.call("taobao.jushita.jms.user.get", {"user_nick": nick})

    def topics_get(self, nick: str) -> dict:
        return self.call("taobao.jushita.jms.topics.get", {"nick": nick})

    def group_add(self, name: str, nicks: list[str], platform: str = "tbUIC") -> dict:
        return self.call("taobao.jushita.jms.group.add", {"group_name": name, "user_nicks": ",".join(nicks), "user_platform": platform})

    def group_get(self, names: list[str] | None = None, page_no: int = 1, page_size: int = 40) -> dict:
        return self.call("taobao.jushita.jms.group.get", {"group_names": ",".join(names) if names else None,
                                                          "page_no": page_no, "page_size": page_size})

    def group_delete(self, name: str, nicks: list[str] | None = None, platform: str = "tbUIC") -> dict:
        return self.call("taobao.jushita.jms.group.delete", {"group_name": name, "nicks": ",".join(nicks) if nicks else None,
                                                             "user_platform": platform})


def _param(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def unwrap_list(value) -> list:
    """TOP JSON wraps lists in an object ({"string": [...]}, {"msg_group": [...]}); return the list."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (inner,) = value.values()
        return inner if isinstance(inner, list) else [inner]
    return []
