"""China A-share ETFs shipped as data: `cn_funds.csv` (classification) and `cn_wind_returns.csv`.

`cn_funds.csv` holds the 1,613 Shanghai/Shenzhen ETFs of the etf-flow-radar classification (snapshot
2026-08-21; funds delisted before then are absent), built by `scripts/build_cn_universe.py`:

- ticker in exchange form: `5xxxxx.SH` (Shanghai), `1xxxxx.SZ` (Shenzhen);
- category: `industry`, `broad` (a broad index) or `theme` (the source's "style" kind: dividend,
  state-owned, ESG, enhanced ...; named theme so that it never mixes with the US `style` funds);
  null for funds the source left unclassified or excluded (cross-border, bond, commodity, money);
- group: the source's group id (`fin_broker` = 券商 securities brokers, `hs300` = 沪深300 ...), with its
  Chinese name in `group_name`; sw_l1_code / sw_l1_name: the Shenwan level-1 industry.

Every row has market CN and currency CNY.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from importlib.resources import files

import polars as pl

from etfflow.errors import ParseError
from etfflow.schema import validate

__all__ = ["cn_funds", "cn_group_names", "cn_ticker", "wind_returns_map"]

_CODE = re.compile(r"^(\d{6})(?:\.(SH|SZ))?$")
_PREFIX = {"5": "SH", "1": "SZ"}


def cn_ticker(code: str, *, file: str | None = None, row: int | None = None, field: str | None = None) -> str:
    """Exchange-form ticker of a 6-digit code: `512880` -> `512880.SH`, `159915` -> `159915.SZ`.

    A code that already carries its suffix must agree with the prefix rule (5 Shanghai, 1 Shenzhen).
    """
    m = _CODE.match(code.strip().upper())
    exch = _PREFIX.get(m.group(1)[0]) if m else None
    if m is None or exch is None or (m.group(2) and m.group(2) != exch):
        raise ParseError(
            f"not a Shanghai/Shenzhen ETF code: {code!r} (expected 5xxxxx[.SH] or 1xxxxx[.SZ])",
            file=file,
            row=row,
            field=field,
        )
    return f"{m.group(1)}.{exch}"


@lru_cache(maxsize=1)
def _load() -> pl.DataFrame:
    raw = files("etfflow.universe").joinpath("cn_funds.csv").read_bytes()
    return pl.read_csv(io.BytesIO(raw), infer_schema=False)


def cn_funds(tickers: list[str] | None = None) -> pl.DataFrame:
    """`funds` rows (market CN, currency CNY) for the given tickers (all when None).

    A ticker the classification does not know gets a row with only its market and currency.
    """
    data = _load().drop("group_name")
    if tickers is not None:
        known = data.filter(pl.col("ticker").is_in(tickers))
        unknown = sorted(set(tickers) - set(known["ticker"].to_list()))
        data = pl.concat(
            [known, pl.DataFrame({"ticker": unknown}, schema={"ticker": pl.String})], how="diagonal"
        )
    data = data.with_columns(market=pl.lit("CN"), currency=pl.lit("CNY"))
    return validate(data, "funds", file="cn_funds.csv")


def cn_group_names() -> dict[str, str]:
    """Group id -> the classification's Chinese group name (e.g. fin_broker -> 券商)."""
    g = _load().filter(pl.col("group").is_not_null()).unique("group", keep="first")
    return dict(zip(g["group"].to_list(), g["group_name"].to_list(), strict=True))


@lru_cache(maxsize=1)
def wind_returns_map() -> pl.DataFrame:
    """Columns of the Wind daily-return files: column, ticker (null when unverified), index, matched_by."""
    raw = files("etfflow.universe").joinpath("cn_wind_returns.csv").read_bytes()
    return pl.read_csv(io.BytesIO(raw), infer_schema=False)
