"""HttpClient: retries, Retry-After, rate limits, errors, the SEC User-Agent rule and the cache.

Every test runs on httpx.MockTransport with injected sleep/clock; sockets are blocked.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from etfflow.errors import ConfigError, NotFoundError, TransportError
from etfflow.sources.http import SEC_USER_AGENT_ENV, HttpClient

UA = "Jane Analyst jane@example.com"


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv(SEC_USER_AGENT_ENV, raising=False)
    yield


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def scripted(responses: list[httpx.Response | Exception]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses[min(len(seen), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handler), seen


def client(transport: httpx.BaseTransport, t: FakeTime, **kw: object) -> HttpClient:
    kw.setdefault("rate_limits", {})
    return HttpClient(UA, transport=transport, sleep=t.sleep, clock=t.clock, **kw)  # type: ignore[arg-type]


def test_retries_on_5xx_then_succeeds_with_exponential_backoff() -> None:
    """503, 502, 200: two retries sleeping backoff * 2**attempt = 0.5 s then 1.0 s."""
    t = FakeTime()
    transport, seen = scripted([httpx.Response(503), httpx.Response(502), httpx.Response(200, content=b"ok")])
    with client(transport, t) as c:
        assert c.get_bytes("https://data.example.com/x") == b"ok"
    assert len(seen) == 3
    assert t.sleeps == [0.5, 1.0]


def test_transport_errors_are_retried() -> None:
    """A connection error and a timeout are retried like a 5xx."""
    t = FakeTime()
    transport, seen = scripted(
        [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, content=b"ok")]
    )
    with client(transport, t) as c:
        assert c.get_bytes("https://data.example.com/x") == b"ok"
    assert len(seen) == 3


def test_retry_after_seconds_is_honoured() -> None:
    """429 with Retry-After: 7 sleeps exactly 7 s (not the 0.5 s backoff)."""
    t = FakeTime()
    transport, _ = scripted(
        [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, content=b"ok")]
    )
    with client(transport, t) as c:
        assert c.get_bytes("https://data.example.com/x") == b"ok"
    assert t.sleeps == [7.0]


def test_retry_after_http_date_is_measured_against_the_server_date() -> None:
    """Retry-After 07:28:30 GMT with Date 07:28:00 GMT means 30 s, whatever the local clock says."""
    t = FakeTime()
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT", "Date": "Wed, 21 Oct 2015 07:28:00 GMT"}
    transport, _ = scripted([httpx.Response(503, headers=headers), httpx.Response(200, content=b"ok")])
    with client(transport, t, wall_clock=lambda: 0.0) as c:
        c.get_bytes("https://data.example.com/x")
    assert t.sleeps == [30.0]


def test_retry_after_http_date_without_server_date_uses_the_wall_clock() -> None:
    """Without a Date header the injected wall clock (12 s before the target) is used."""
    t = FakeTime()
    target = 1445412510.0  # Wed, 21 Oct 2015 07:28:30 GMT
    transport, _ = scripted(
        [httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}), httpx.Response(200)]
    )
    with client(transport, t, wall_clock=lambda: target - 12.0) as c:
        c.get_bytes("https://data.example.com/x")
    assert t.sleeps == [12.0]


def test_retry_after_beyond_the_cap_fails_fast() -> None:
    """A server asking for an hour's wait is an error, not a silent hour of sleep."""
    t = FakeTime()
    transport, seen = scripted([httpx.Response(429, headers={"Retry-After": "3600"})])
    with client(transport, t, max_retry_after=60.0) as c, pytest.raises(TransportError, match="Retry-After"):
        c.get_bytes("https://data.example.com/x")
    assert len(seen) == 1 and t.sleeps == []


def test_rate_limit_spaces_requests_per_host() -> None:
    """10 req/s on www.sec.gov: back-to-back requests start at t = 0.0, 0.1, 0.2; other hosts do not wait."""
    t = FakeTime()
    starts: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        starts.append((request.url.host, t.now))
        return httpx.Response(200, content=b"x")

    c = HttpClient(
        UA,
        transport=httpx.MockTransport(handler),
        rate_limits={"www.sec.gov": 10},
        sleep=t.sleep,
        clock=t.clock,
    )
    for _ in range(3):
        c.get_bytes("https://www.sec.gov/a")
    c.get_bytes("https://other.example.com/b")
    c.close()
    sec = [s for h, s in starts if h == "www.sec.gov"]
    assert sec == pytest.approx([0.0, 0.1, 0.2])
    assert starts[-1] == ("other.example.com", pytest.approx(0.2))
    assert t.sleeps == pytest.approx([0.1, 0.1])


def test_rate_limit_does_not_sleep_when_time_has_passed() -> None:
    """A request made after the interval has elapsed goes out at once."""
    t = FakeTime()
    transport, _ = scripted([httpx.Response(200)])
    c = HttpClient(UA, transport=transport, rate_limits={"www.sec.gov": 10}, sleep=t.sleep, clock=t.clock)
    c.get_bytes("https://www.sec.gov/a")
    t.now += 5.0
    c.get_bytes("https://www.sec.gov/b")
    assert t.sleeps == []


def test_404_is_not_found_and_not_retried() -> None:
    """404 raises NotFoundError after one request."""
    t = FakeTime()
    transport, seen = scripted([httpx.Response(404)])
    with client(transport, t) as c, pytest.raises(NotFoundError, match="404"):
        c.get_bytes("https://data.example.com/missing")
    assert len(seen) == 1


def test_exhausted_retries_raise_transport_error() -> None:
    """max_retries=2: three attempts, two sleeps, then TransportError naming the last status."""
    t = FakeTime()
    transport, seen = scripted([httpx.Response(500)])
    with (
        client(transport, t, max_retries=2) as c,
        pytest.raises(TransportError, match="3 attempts: HTTP 500"),
    ):
        c.get_bytes("https://data.example.com/x")
    assert len(seen) == 3
    assert t.sleeps == [0.5, 1.0]


def test_other_4xx_fail_fast_and_sec_403_explains_itself() -> None:
    """403 from the SEC is not retried and the message points at the User-Agent and request rate."""
    t = FakeTime()
    transport, seen = scripted([httpx.Response(403)])
    with client(transport, t) as c, pytest.raises(TransportError, match="User-Agent"):
        c.get_bytes("https://www.sec.gov/Archives/x.txt")
    assert len(seen) == 1


@pytest.mark.parametrize("ua", [None, "", "etfflow", "Jane Analyst"])
def test_sec_refused_without_an_email_user_agent(ua: str | None) -> None:
    """No request leaves for *.sec.gov without a User-Agent holding an e-mail; the error names the env var."""
    t = FakeTime()
    transport, seen = scripted([httpx.Response(200)])
    c = HttpClient(ua, transport=transport, sleep=t.sleep, clock=t.clock)
    with pytest.raises(ConfigError, match=SEC_USER_AGENT_ENV):
        c.get_bytes("https://efts.sec.gov/LATEST/search-index?q=x")
    assert seen == []


def test_sec_user_agent_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """ETFFLOW_SEC_USER_AGENT is used when no user_agent is passed, and it is sent as the header."""
    monkeypatch.setenv(SEC_USER_AGENT_ENV, UA)
    t = FakeTime()
    transport, seen = scripted([httpx.Response(200, content=b"{}")])
    with HttpClient(transport=transport, sleep=t.sleep, clock=t.clock) as c:
        assert c.get_bytes("https://data.sec.gov/submissions/CIK0000884394.json") == b"{}"
    assert seen[0].headers["User-Agent"] == UA


def test_non_sec_hosts_need_no_user_agent() -> None:
    """Other hosts get a default etfflow User-Agent."""
    t = FakeTime()
    transport, seen = scripted([httpx.Response(200)])
    with HttpClient(None, transport=transport, sleep=t.sleep, clock=t.clock) as c:
        c.get_bytes("https://www.ishares.com/x.csv")
    assert seen[0].headers["User-Agent"].startswith("etfflow/")


def test_cache_hit_makes_no_second_request(tmp_path: Path) -> None:
    """The second GET of a URL is served from cache_dir; use_cache=False refetches and refreshes it."""
    t = FakeTime()
    calls = [b"first", b"second"]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=calls.pop(0))

    url = "https://www.sec.gov/Archives/edgar/data/1/0001-26-000001.txt"
    c = HttpClient(
        UA, transport=httpx.MockTransport(handler), cache_dir=tmp_path, sleep=t.sleep, clock=t.clock
    )
    assert c.get_bytes(url) == b"first"
    assert c.get_bytes(url) == b"first"
    assert calls == [b"second"]
    path = c.cache_path(url)
    assert path is not None and path.read_bytes() == b"first" and path.is_relative_to(tmp_path)
    assert c.get_bytes(url, use_cache=False) == b"second"
    assert c.get_bytes(url) == b"second"
    c.close()


def test_errors_are_not_cached(tmp_path: Path) -> None:
    """A failed request leaves nothing in the cache."""
    t = FakeTime()
    transport, _ = scripted([httpx.Response(404)])
    c = client(transport, t, cache_dir=tmp_path)
    with pytest.raises(NotFoundError):
        c.get_bytes("https://data.example.com/x")
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_invalid_url_is_a_transport_error() -> None:
    """Malformed URLs never reach httpx's own exceptions."""
    t = FakeTime()
    transport, _ = scripted([httpx.Response(200)])
    with client(transport, t) as c, pytest.raises(TransportError):
        c.get_bytes("not a url")
