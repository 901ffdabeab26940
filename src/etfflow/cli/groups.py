"""`etfflow groups`: net flows per taxonomy group (industry, index, sector ...) and period, per currency."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import polars as pl
import typer

from etfflow import calendar, pipeline
from etfflow.cli.app import DbOpt, JsonOpt, app, console, emit_json, fmt_pct, fmt_usd, frame_table, handled
from etfflow.errors import NotFoundError
from etfflow.flows.aggregate import by_group, to_period
from etfflow.store import Store

_BY = ("group", "category", "sw_l1_name", "asset_class")


@app.command()
def groups(
    market: Annotated[str | None, typer.Option(help="Only funds of this market (US or CN).")] = None,
    group: Annotated[
        str | None, typer.Option(help="Only this group (e.g. fin_broker) and its funds.")
    ] = None,
    by: Annotated[
        str, typer.Option(help="Group by group, category, sw_l1_name (Shenwan) or asset_class.")
    ] = ("group"),
    freq: Annotated[str, typer.Option(help="d (daily), w (weekly), m (monthly).")] = "m",
    start: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    end: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Net flows per group and period in each fund's currency (USD and CNY are never added)."""
    if freq not in ("d", "w", "m"):
        raise typer.BadParameter("use d, w or m", param_hint="--freq")
    if by not in _BY:
        raise typer.BadParameter(f"use one of {', '.join(_BY)}", param_hint="--by")
    with handled(), Store(db, read_only=True) as store:
        label = pipeline.synthetic_label(store)
        flows = store.read(
            "flows_daily", start=start.date() if start else None, end=end.date() if end else None
        )
        funds = pipeline.funds_table(store)
        if market:
            markets = calendar.fund_markets(funds, flows["ticker"].unique().to_list())
            flows = flows.filter(
                pl.col("ticker").is_in([t for t, m in markets.items() if m == market.upper()])
            )
        if group:
            members = funds.filter(pl.col(by) == group)["ticker"].to_list()
            flows = flows.filter(pl.col("ticker").is_in(members))
        if flows.height == 0:
            raise NotFoundError(
                f"no flows for {group or 'any group'} ({market or 'all markets'}) in {store.path}"
            )
        table = by_group(flows, funds, by=by, freq=freq).select(
            "date", by, "currency", "flow_usd", "aum_start_usd", "flow_pct_aum", "funds"
        )
        per_fund = (
            to_period(flows, freq, markets=calendar.fund_markets(funds, flows["ticker"].unique().to_list()))
            if group
            else None
        )
    payload: dict[str, Any] = {
        "label": label,
        "market": market,
        "group": group,
        "by": by,
        "freq": freq,
        "rows": table.with_columns(pl.col(pl.Float64).fill_nan(None)).to_dicts(),
    }
    if per_fund is not None:
        payload["funds"] = (
            per_fund.select("date", "ticker", "flow_usd", "aum_start_usd", "flow_pct_aum")
            .with_columns(pl.col(pl.Float64).fill_nan(None))
            .to_dicts()
        )
    if as_json:
        emit_json(payload)
        return
    if label:
        console.print(f"[bold yellow]{label}[/]", highlight=False)
    fmts = {"flow": fmt_usd, "aum_start": lambda x: fmt_usd(x).lstrip("+"), "flow_pct_aum": fmt_pct}
    shown = table.rename({"flow_usd": "flow", "aum_start_usd": "aum_start"})
    if group:
        shown = shown.drop(by)
    title = f"Net flows by {by} ({freq}){' of ' + group if group else ''}; amounts in each row's currency"
    console.print(frame_table(title, shown.tail(60), fmts))
    for cur in sorted(table["currency"].unique().to_list()):
        sub = table.filter(pl.col("currency") == cur)
        console.print(
            f"Total over the selection: {fmt_usd(float(sub['flow_usd'].sum()))} {cur}", highlight=False
        )
    if per_fund is not None:
        names = funds.select("ticker", "name", "currency")
        summary = (
            per_fund.group_by("ticker")
            .agg(pl.col("flow_usd").sum().alias("flow"), pl.len().alias("periods"))
            .join(names, on="ticker", how="left")
            .select("ticker", "name", "currency", "flow", "periods")
            .sort("flow", descending=True)
        )
        console.print(frame_table("Per fund over the selection", summary, {"flow": fmt_usd}))
