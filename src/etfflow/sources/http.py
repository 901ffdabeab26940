"""The one HTTP layer for every connector: retries, Retry-After, per-host rate limits, a raw cache.

SEC hosts (``*.sec.gov``) require a User-Agent that names a person and an e-mail address
(https://www.sec.gov/os/accessing-edgar-data); the client refuses to send without one. Set it with
``ETFFLOW_SEC_USER_AGENT="Your Name your@email.com"`` or pass ``user_agent=`` explicitly.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import httpx

from etfflow import __version__
from etfflow.errors import ConfigError, NotFoundError, TransportError

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "SEC_USER_AGENT_ENV",
    "HttpClient",
    "is_sec_host",
]

SEC_USER_AGENT_ENV = "ETFFLOW_SEC_USER_AGENT"
DEFAULT_RATE_LIMITS: Mapping[str, float] = {"www.sec.gov": 10.0, "efts.sec.gov": 10.0, "data.sec.gov": 10.0}
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[A-Za-z]{2,}")


def is_sec_host(host: str) -> bool:
    """True for sec.gov and its subdomains (the hosts that require a declared User-Agent)."""
    host = host.lower().rstrip(".")
    return host == "sec.gov" or host.endswith(".sec.gov")


class _RateLimiter:
    """Minimum interval between requests to one host (a token bucket of depth one)."""

    def __init__(
        self, limits: Mapping[str, float], sleep: Callable[[float], None], clock: Callable[[], float]
    ) -> None:
        self._interval = {h.lower(): 1.0 / r for h, r in limits.items() if r > 0}
        self._next: dict[str, float] = {}
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        host = host.lower()
        interval = self._interval.get(host)
        if interval is None:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(host, now))
            self._next[host] = slot + interval
        if slot > now:
            self._sleep(slot - now)


class HttpClient:
    """GET with retries, backoff, Retry-After, per-host rate limits and an opt-in raw cache."""

    # Failures surface only as NotFoundError (404/410) or TransportError; httpx exceptions never leak.
    # sleep, clock and wall_clock are injectable so tests take no real time.

    def __init__(
        self,
        user_agent: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        cache_dir: Path | None = None,
        max_retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 30.0,
        rate_limits: Mapping[str, float] | None = None,
        max_retry_after: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
        env = os.environ.get(SEC_USER_AGENT_ENV)
        self.user_agent = user_agent if user_agent is not None else (env.strip() if env else None)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._wall_clock = wall_clock
        limits = DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits
        self._limiter = _RateLimiter(limits, sleep, clock)
        self._client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=True)

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def cache_path(self, url: str) -> Path | None:
        """Where the raw response for `url` is (or would be) cached; None without a cache_dir."""
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.bin"

    def get_bytes(self, url: str, *, use_cache: bool = True) -> bytes:
        """The body of a successful GET of `url` (from the cache when present and `use_cache`)."""
        cached = self.cache_path(url) if use_cache else None
        if cached is not None and cached.is_file():
            return cached.read_bytes()
        body = self._fetch(url)
        path = self.cache_path(url)
        if path is not None:
            self._store(path, body)
        return body

    def _headers(self, host: str) -> dict[str, str]:
        if is_sec_host(host):
            ua = self.user_agent
            if not ua or not _EMAIL.search(ua):
                raise ConfigError(
                    f"the SEC requires a User-Agent with your name and e-mail address (got {ua!r}); set "
                    f'{SEC_USER_AGENT_ENV}="Your Name your@email.com" or pass user_agent= to HttpClient'
                )
            return {"User-Agent": ua, "Accept-Encoding": "gzip, deflate"}
        return {"User-Agent": self.user_agent or f"etfflow/{__version__}"}

    def _fetch(self, url: str) -> bytes:
        try:
            host = httpx.URL(url).host
        except httpx.InvalidURL as exc:
            raise TransportError(f"invalid URL {url!r}: {exc}") from exc
        if not host:
            raise TransportError(f"invalid URL {url!r}: no host")
        headers = self._headers(host)
        last = ""
        for attempt in range(self.max_retries + 1):
            self._limiter.wait(host)
            wait: float | None = None
            try:
                response = self._client.get(url, headers=headers)
            except httpx.HTTPError as exc:  # timeouts, connection errors, protocol errors
                last = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response.content
                if status in (404, 410):
                    raise NotFoundError(f"{url} returned HTTP {status}")
                last = f"HTTP {status}"
                if status not in _RETRY_STATUS and not 500 <= status < 600:
                    hint = (
                        " (the SEC answers 403 to a missing User-Agent or too many requests)"
                        if (status == 403 and is_sec_host(host))
                        else ""
                    )
                    raise TransportError(f"{url} returned HTTP {status}{hint}")
                wait = self._retry_after(response)
                if wait is not None and wait > self.max_retry_after:
                    raise TransportError(
                        f"{url} returned HTTP {status} with Retry-After {wait:.0f}s, "
                        f"more than max_retry_after={self.max_retry_after:.0f}s"
                    )
            if attempt == self.max_retries:
                break
            self._sleep(wait if wait is not None else self.backoff * 2**attempt)
        raise TransportError(f"{url} failed after {self.max_retries + 1} attempts: {last}")

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        # Measure against the server's own Date header when present: immune to local clock skew.
        now = self._wall_clock()
        date = response.headers.get("Date")
        if date:
            with contextlib.suppress(TypeError, ValueError):
                now = email.utils.parsedate_to_datetime(date).timestamp()
        return max(0.0, when.timestamp() - now)

    @staticmethod
    def _store(path: Path, body: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(body)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise ConfigError(f"cannot write the HTTP cache at {path}: {exc}") from exc
