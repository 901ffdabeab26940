"""Canonical tables: column names, dtypes, units and keys, declared once; `validate` checks frames.

Every frame that crosses a stage boundary (source -> store, store -> flows) goes through `validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from etfflow.errors import ValidationError

__all__ = ["DAILY_VALUES", "TABLES", "Column", "Table", "empty", "validate"]


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    unit: str = ""
    required: bool = False
    nonnegative: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str = ""
    derived: bool = False
    _by_name: dict[str, Column] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({c.name: c for c in self.columns})

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}

    def column(self, name: str) -> Column:
        return self._by_name[name]


UTC_TS = pl.Datetime("us", "UTC")

FUNDS = Table(
    "funds",
    (
        Column("ticker", pl.String(), required=True, doc="exchange ticker, upper case"),
        Column("name", pl.String()),
        Column("issuer", pl.String()),
        Column("asset_class", pl.String(), doc="equity, fixed_income, commodity, ..."),
        Column("category", pl.String(), doc="broad_market, sector, style, fixed_income, thematic, ..."),
        Column("group", pl.String(), doc="e.g. Technology, Growth, Long Treasury"),
        Column("cycle", pl.String(), doc="cyclical / defensive / null"),
        Column("cycle_phase", pl.String(), doc="early / mid / late / recession (sectors)"),
        Column("primary", pl.Boolean(), doc="the reference fund of its group (e.g. the Select Sector SPDR)"),
        Column("creation_unit_shares", pl.Int64(), unit="shares", nonnegative=True),
        Column("inception", pl.Date()),
        Column("cik", pl.String()),
        Column("series_id", pl.String()),
        Column("class_id", pl.String()),
        Column("market", pl.String(), doc="US or CN: the exchange calendar of its sessions (null: US)"),
        Column("currency", pl.String(), doc="USD or CNY: the unit of every money amount (null: USD)"),
        Column("sw_l1_code", pl.String(), doc="Shenwan level-1 industry code (CN industry funds)"),
        Column("sw_l1_name", pl.String(), doc="Shenwan level-1 industry name (CN industry funds)"),
    ),
    key=("ticker",),
    doc="One row per fund: identity and taxonomy.",
)

DAILY = Table(
    "daily",
    (
        Column("date", pl.Date(), required=True, doc="session (of the fund's market) the values are for"),
        Column("ticker", pl.String(), required=True),
        Column("source", pl.String(), required=True, doc="e.g. ishares_workbook, ssga_gld, csv, demo"),
        Column("open", pl.Float64(), unit="currency/share", nonnegative=True),
        Column("close", pl.Float64(), unit="currency/share", nonnegative=True),
        Column("nav", pl.Float64(), unit="currency/share", nonnegative=True),
        Column("shares_outstanding", pl.Float64(), unit="shares", nonnegative=True),
        Column("total_net_assets", pl.Float64(), unit="currency", nonnegative=True),
        Column("volume", pl.Float64(), unit="shares", nonnegative=True),
        Column("split_factor", pl.Float64(), doc="new shares per old share on the split's ex-date"),
        Column("distribution", pl.Float64(), unit="USD/share", nonnegative=True, doc="ex-date cash"),
        Column("estimated", pl.Boolean(), doc="the source marks the shares count as its estimate"),
        Column(
            "so_lag",
            pl.Int8(),
            unit="sessions",
            nonnegative=True,
            doc="sessions between the trade date and the date this shares count is stated for",
        ),
        Column("retrieved_at", UTC_TS, doc="when the source was read"),
    ),
    key=("date", "ticker", "source"),
    doc="Raw daily observations, one row per source (the store merges sources by priority).",
)
#: what a source states for a fund and session: the `daily` columns besides its key, so_lag and retrieved_at
DAILY_VALUES: tuple[str, ...] = tuple(
    c.name for c in DAILY.columns if c.name not in (*DAILY.key, "so_lag", "retrieved_at")
)

FLOWS_DAILY = Table(
    "flows_daily",
    (
        Column("date", pl.Date(), required=True, doc="trade date the flow belongs to"),
        Column("ticker", pl.String(), required=True),
        Column("flow_usd", pl.Float64(), unit="fund currency", doc="named for USD; CNY for CN funds"),
        Column("aum_prev_usd", pl.Float64(), unit="fund currency"),
        Column("flow_pct_aum", pl.Float64(), unit="fraction of prior-day AUM"),
        Column("shares_change", pl.Float64(), unit="shares", doc="split-adjusted"),
        Column("nav_used", pl.Float64(), unit="USD/share"),
        Column("method", pl.String(), doc="shares, aum or month_end"),
        Column("flags", pl.UInt32(), doc="bitmask of etfflow.flows.flags.Flag"),
        Column("gap_sessions", pl.Int32(), doc="sessions missing between the two shares counts"),
        Column("available_on", pl.Date(), doc="first session a user could have known the flow"),
    ),
    key=("date", "ticker"),
    doc="Derived daily flows; always recomputable from `daily`.",
    derived=True,
)

NPORT_MONTHLY = Table(
    "nport_monthly",
    (
        Column("series_id", pl.String(), required=True),
        Column("ticker", pl.String()),
        Column("month_end", pl.Date(), required=True),
        Column("sales", pl.Float64(), unit="USD"),
        Column("reinvestment", pl.Float64(), unit="USD"),
        Column("redemption", pl.Float64(), unit="USD"),
        Column("net_flow", pl.Float64(), unit="USD", doc="sales + reinvestment - redemption"),
        Column("net_assets", pl.Float64(), unit="USD"),
        Column("accession", pl.String()),
        Column("filed_on", pl.Date()),
        Column("series_name", pl.String(), doc="fund name as filed (series, or registrant without series)"),
    ),
    key=("series_id", "month_end"),
    doc="Form N-PORT Part B monthly flows.",
)

HOLDINGS = Table(
    "holdings",
    (
        Column("series_id", pl.String(), required=True),
        Column("report_date", pl.Date(), required=True),
        Column("position", pl.Int64(), required=True, doc="order in the filing"),
        Column("name", pl.String()),
        Column("title", pl.String()),
        Column("cusip", pl.String()),
        Column("isin", pl.String()),
        Column("lei", pl.String()),
        Column("balance", pl.Float64()),
        Column("units", pl.String()),
        Column("currency", pl.String()),
        Column("value_usd", pl.Float64(), unit="USD"),
        Column("pct_net_assets", pl.Float64(), unit="percent"),
        Column("asset_cat", pl.String()),
        Column("issuer_cat", pl.String()),
        Column("country", pl.String()),
        Column("accession", pl.String()),
    ),
    key=("series_id", "report_date", "position"),
    doc="Form N-PORT Part C positions.",
)

AUTHORIZED_PARTICIPANTS = Table(
    "authorized_participants",
    (
        Column("series_id", pl.String(), required=True),
        Column("report_date", pl.Date(), required=True),
        Column("ap_name", pl.String(), required=True),
        Column("ap_lei", pl.String()),
        Column("purchased_usd", pl.Float64(), unit="USD"),
        Column("redeemed_usd", pl.Float64(), unit="USD"),
        Column("accession", pl.String()),
        Column("filed_on", pl.Date(), doc="N-CEN arrives about 75 days after report_date"),
    ),
    key=("series_id", "report_date", "ap_name"),
    doc="Form N-CEN authorised participants per ETF series.",
)

NCEN_ETF = Table(
    "ncen_etf",
    (
        Column("series_id", pl.String(), required=True),
        Column("report_date", pl.Date(), required=True),
        Column("ticker", pl.String()),
        Column("creation_unit_shares", pl.Int64(), unit="shares", nonnegative=True),
        Column("cash_pct_purchased", pl.Float64(), unit="percent"),
        Column("in_kind_pct_purchased", pl.Float64(), unit="percent", doc="kept as filed (can exceed 100)"),
        Column("cash_pct_redeemed", pl.Float64(), unit="percent"),
        Column("in_kind_pct_redeemed", pl.Float64(), unit="percent"),
        Column("is_in_kind_etf", pl.Boolean()),
        Column("accession", pl.String()),
        Column("filed_on", pl.Date()),
    ),
    key=("series_id", "report_date"),
    doc="Form N-CEN Item E per ETF series: creation unit and cash / in-kind mix.",
)

VENDOR_FLOWS = Table(
    "vendor_flows",
    (
        Column("date", pl.Date(), required=True),
        Column("ticker", pl.String(), required=True),
        Column("source", pl.String(), required=True),
        Column("flow_usd", pl.Float64(), unit="USD"),
    ),
    key=("date", "ticker", "source"),
    doc="Flows as published by a third party, kept for reconciliation.",
)

SEC_IDS = Table(
    "sec_ids",
    (
        Column("ticker", pl.String(), required=True, doc="share-class ticker, upper case"),
        Column("cik", pl.String(), required=True, doc="registrant CIK, 10 digits"),
        Column("series_id", pl.String(), doc="S000...; null for trusts without series (SPY, GLD)"),
        Column("class_id", pl.String(), doc="C000..."),
        Column("source", pl.String(), doc="the map it came from (company_tickers_mf, company_tickers, ...)"),
    ),
    key=("ticker",),
    doc="SEC's ticker -> CIK / series / class map for every fund share class (not only known funds).",
)

RETURNS_DAILY = Table(
    "returns_daily",
    (
        Column("date", pl.Date(), required=True, doc="session the return ends on"),
        Column("series", pl.String(), required=True, doc="the series' name as published"),
        Column("source", pl.String(), required=True),
        Column("ticker", pl.String(), doc="the fund (or, for an index, the fund tracking it)"),
        Column("kind", pl.String(), doc="fund or index"),
        Column("simple_return", pl.Float64(), unit="fraction", doc="close-to-close, as published"),
    ),
    key=("date", "series", "source"),
    doc="Daily simple returns published as such (Wind's fund and index return panels).",
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        FUNDS,
        DAILY,
        FLOWS_DAILY,
        NPORT_MONTHLY,
        HOLDINGS,
        AUTHORIZED_PARTICIPANTS,
        NCEN_ETF,
        VENDOR_FLOWS,
        SEC_IDS,
        RETURNS_DAILY,
    )
}


def empty(table: str) -> pl.DataFrame:
    """An empty frame with the table's columns and dtypes."""
    return pl.DataFrame(schema=TABLES[table].polars_schema)


def validate(frame: pl.DataFrame, table: str, *, file: str | None = None) -> pl.DataFrame:
    """Return `frame` conformed to `table` (column order, dtypes, missing optional columns as null).

    Raises ValidationError naming the file, the first bad row (1-based, in frame order) and the field
    for: a missing required column, a value that does not cast, a null in a required column, a
    negative value in a non-negative column, or two rows with the same key.
    """
    spec = TABLES[table]
    unknown = [c for c in frame.columns if c not in spec.names]
    if unknown:
        raise ValidationError(f"unknown column(s) for table {table}: {unknown}", file=file)
    for col in spec.columns:
        if col.required and col.name not in frame.columns:
            raise ValidationError(f"missing required column for table {table}", file=file, field=col.name)
    series: list[pl.Series] = []
    for col in spec.columns:
        if col.name not in frame.columns:
            series.append(pl.Series(col.name, [None] * frame.height, dtype=col.dtype))
            continue
        s = frame.get_column(col.name)
        if s.dtype != col.dtype:
            cast = s.cast(col.dtype, strict=False)
            bad = cast.is_null() & s.is_not_null()
            if bad.any():
                row = int(bad.arg_true()[0])
                raise ValidationError(
                    f"value {s[row]!r} is not a valid {col.dtype}", file=file, row=row + 1, field=col.name
                )
            s = cast
        if col.required and s.null_count():
            row = int(s.is_null().arg_true()[0])
            raise ValidationError("required value is missing", file=file, row=row + 1, field=col.name)
        if col.nonnegative and s.dtype.is_numeric():
            neg = s < 0
            if neg.any():
                row = int(neg.arg_true()[0])
                raise ValidationError(f"negative value {s[row]}", file=file, row=row + 1, field=col.name)
        series.append(s.alias(col.name))
    result = pl.DataFrame(series)
    dup = result.select(spec.key).is_duplicated()
    if dup.any():
        row = int(dup.arg_true()[0])
        keyval = {k: result[k][row] for k in spec.key}
        raise ValidationError(f"duplicate key {keyval}", file=file, row=row + 1, field=",".join(spec.key))
    return result
