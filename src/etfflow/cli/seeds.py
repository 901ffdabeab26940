"""Commands from the seed documents: tracker signals, premium/discount and arbitrage, creation units."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from etfflow import pipeline
from etfflow.cli.app import (
    DbOpt,
    JsonOpt,
    app,
    console,
    emit_json,
    fmt_pct,
    fmt_usd,
    frame_table,
    handled,
    nan_to_none,
)
from etfflow.errors import NotFoundError, StoreError
from etfflow.flows.flags import decode
from etfflow.store import Store

AsOfOpt = Annotated[
    dt.datetime | None,
    typer.Option("--as-of", formats=["%Y-%m-%d"], help="Date: only data known by then (default: latest)."),
]


def _label(store: Store) -> str | None:
    return pipeline.synthetic_label(store)


def _prices(store: Store, tickers: list[str] | None, start: dt.date | None = None) -> pl.DataFrame:
    from etfflow.flows.daily import merge_sources

    d = store.read("daily", tickers=tickers, start=start)
    if d.height == 0:
        return pl.DataFrame(
            schema={
                "date": pl.Date,
                "ticker": pl.String,
                "close": pl.Float64,
                "nav": pl.Float64,
                "volume": pl.Float64,
            }
        )
    return merge_sources(d)


def _recent_flows(store: Store, tickers: list[str] | None, day: dt.date | None) -> pl.DataFrame:
    """The last 120 calendar days of flows of each fund (up to `day` when given, else its own latest)."""
    if day is not None:
        return store.read("flows_daily", tickers=tickers, start=day - dt.timedelta(days=120), end=day)
    where = "WHERE ticker IN (SELECT unnest(?))" if tickers is not None else ""
    params: list[Any] = [tickers] if tickers is not None else []
    last = store.query(f"SELECT ticker, max(date) AS last FROM flows_daily {where} GROUP BY ticker", params)
    if last.height == 0:
        return store.read("flows_daily", tickers=tickers, end=day)
    start = last["last"].min()
    assert isinstance(start, dt.date)
    f = store.read("flows_daily", tickers=tickers, start=start - dt.timedelta(days=120))
    return (
        f.join(last, on="ticker")
        .filter(pl.col("date") >= pl.col("last") - pl.duration(days=120))
        .drop("last")
    )


@app.command()
def signals(
    tickers: Annotated[
        list[str] | None, typer.Argument(help="Fund tickers (all funds when omitted).")
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(help="A category (sector, thematic, ...) or asset class (equity, bond, commodity)."),
    ] = None,
    as_of: AsOfOpt = None,
    n: Annotated[int, typer.Option(help="Rows to show (all with --json).")] = 30,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tracker flow signals: BUY/SELL/NEUTRAL with a 0-100 strength from flow, price and volume scores."""
    from etfflow.signals.tracker import category_tickers, tracker_signals

    day = as_of.date() if as_of else None
    with handled(), Store(db, read_only=True) as store:
        label = _label(store)
        funds = pipeline.funds_table(store)
        want = [t.upper() for t in tickers] if tickers else None
        if category:
            cat = category_tickers(funds, category)
            want = [t for t in want if t in cat] if want else cat
        flows = _recent_flows(store, want, day)
        if flows.height == 0:
            raise NotFoundError(f"no flows for {', '.join(want) if want else 'any fund'} in {store.path}")
        first = flows["date"].min()
        assert isinstance(first, dt.date)
        prices = _prices(store, want, first - dt.timedelta(days=60))
        table = tracker_signals(flows, prices, funds, as_of=day, tickers=want)
    if as_json:
        emit_json({"label": label, "as_of": day, "signals": nan_to_none(table).to_dicts()})
        return
    if label:
        console.print(f"[bold yellow]{label}[/]", highlight=False)
    shown = table.head(n).select(
        "ticker",
        "date",
        "signal",
        "strength",
        "flow_1d_usd",
        "flow_5d_usd",
        "flow_20d_usd",
        "flow_20d_pct",
        "return_20d",
        "volume_ratio",
    )
    shown = shown.rename(
        {
            "flow_1d_usd": "1d",
            "flow_5d_usd": "5d",
            "flow_20d_usd": "20d",
            "flow_20d_pct": "20d %AUM",
            "return_20d": "price 20d",
            "volume_ratio": "vol/avg",
        }
    )
    console.print(
        frame_table(
            f"Flow signals ({table.height} funds; strongest first)",
            shown,
            {
                "1d": fmt_usd,
                "5d": fmt_usd,
                "20d": fmt_usd,
                "20d %AUM": fmt_pct,
                "price 20d": fmt_pct,
                "vol/avg": lambda x: "n/a" if x is None else f"{x:.2f}x",
            },
        )
    )
    for x in table.head(n).select("ticker", "reason").to_dicts():
        console.print(f"  {x['ticker']}: {x['reason']}", highlight=False)
    counts = table.group_by("signal").len().sort("signal").to_dicts()
    console.print(
        "Scoring: composite = 0.5 flow + 0.3 price + 0.2 volume (each -1 .. +1); BUY >= +0.2, SELL <= -0.2; "
        "strength = 100 x |composite|. "
        + ", ".join(f"{c['signal'] or 'no signal'} {c['len']}" for c in counts),
        highlight=False,
    )


@app.command()
def premium(
    ticker: Annotated[str, typer.Argument(help="Fund ticker.")],
    band: Annotated[
        float, typer.Option(help="Arbitrage cost band, as a fraction (0.0025 = 0.25%).", min=0.0)
    ] = 0.0025,
    follow: Annotated[
        int, typer.Option(help="Sessions after the premium in which creations may follow.", min=0)
    ] = 1,
    start: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    end: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    n: Annotated[int, typer.Option(help="Largest premium sessions to list.")] = 10,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Premium/discount (close vs NAV) and whether creations followed premiums and redemptions discounts."""
    from etfflow.signals.premium import arbitrage_view

    t = ticker.upper()
    s, e = (start.date() if start else None), (end.date() if end else None)
    with handled(), Store(db, read_only=True) as store:
        label = _label(store)
        daily = _prices(store, [t], s)
        if e is not None:
            daily = daily.filter(pl.col("date") <= e)
        flows = store.read("flows_daily", tickers=[t], start=s, end=e)
        if daily.height == 0 or "nav" not in daily.columns or daily["nav"].drop_nulls().len() == 0:
            raise NotFoundError(f"no NAV for {t} in {store.path}: premium/discount needs close and NAV")
        if daily["close"].drop_nulls().len() == 0:
            raise NotFoundError(
                f"no closing price for {t} in {store.path}: premium/discount needs close and NAV"
            )
        view = arbitrage_view(t, daily, flows, band=band, follow=follow)
    if as_json:
        emit_json({"label": label, **view.as_dict()})
        return
    if label:
        console.print(f"[bold yellow]{label}[/]", highlight=False)
    console.print(
        f"{t}: {view.sessions:,} sessions with close, NAV and flows; "
        f"mean premium {fmt_pct(view.mean_premium, 3)}, "
        f"median |premium| {fmt_pct(view.median_abs_premium, 3).lstrip('+')}; beyond +/-{band:.2%}: "
        f"{view.above} premiums, {view.below} discounts.",
        highlight=False,
    )
    rows = pl.DataFrame(
        [
            {
                "after": "premium > band",
                "sessions": view.above,
                "creations": view.above_created,
                "redemptions": view.above_redeemed,
            },
            {
                "after": "discount < -band",
                "sessions": view.below,
                "creations": view.below_created,
                "redemptions": view.below_redeemed,
            },
        ]
    )
    console.print(frame_table(f"Net creations on the day and the next {follow} session(s)", rows, {}))
    console.print(f"Arbitrage: {view.verdict}.", highlight=False)
    big = view.table.sort(pl.col("premium").abs(), descending=True).head(n)
    console.print(
        frame_table(
            "Largest premiums and discounts",
            big,
            {"premium": lambda x: fmt_pct(x, 3), "net_shares": lambda x: f"{x:+,.0f}"},
        )
    )


@app.command()
def units(
    ticker: Annotated[str, typer.Argument(help="Fund ticker.")],
    freq: Annotated[
        str,
        typer.Option(help="d (daily net units) or m (monthly, beside N-PORT gross sales and redemptions)."),
    ] = "m",
    start: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    end: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Creations/redemptions in creation units; monthly N-PORT gross sales and redemptions beside the net."""
    from etfflow.signals.units import daily_units, monthly_units

    if freq not in ("d", "m"):
        raise typer.BadParameter("use d or m", param_hint="--freq")
    t = ticker.upper()
    s, e = (start.date() if start else None), (end.date() if end else None)
    with handled(), Store(db, read_only=True) as store:
        label = _label(store)
        funds = pipeline.funds_table(store).filter(pl.col("ticker") == t)
        unit = funds["creation_unit_shares"].drop_nulls().to_list() if funds.height else []
        cu = float(unit[0]) if unit else None
        flows = store.read("flows_daily", tickers=[t], start=s, end=e)
        if flows.height == 0:
            raise NotFoundError(f"no flows for {t} in {store.path}")
        nport = pipeline.nport_table(store, t) if freq == "m" else pl.DataFrame()
        if freq == "m" and nport.height:
            if s:
                nport = nport.filter(pl.col("month_end") >= s)
            if e:
                nport = nport.filter(pl.col("month_end") <= e)
    table = (
        daily_units(flows, cu)
        if freq == "d"
        else monthly_units(flows, nport if nport.height else _empty_nport(), cu)
    )
    payload: dict[str, Any] = {
        "label": label,
        "ticker": t,
        "creation_unit_shares": cu,
        "freq": freq,
        "rows": nan_to_none(table).to_dicts(),
    }
    if as_json:
        emit_json(payload)
        return
    if label:
        console.print(f"[bold yellow]{label}[/]", highlight=False)
    unit_txt = (
        f"creation unit {cu:,.0f} shares"
        if cu
        else "creation unit unknown (import N-CEN or set it in the taxonomy)"
    )
    shown = table.tail(40)
    fm: dict[str, Callable[[Any], str]] = {
        c: fmt_usd
        for c in (
            "daily_net_usd",
            "sales",
            "reinvestment",
            "redemption",
            "nport_net_usd",
            "difference_usd",
            "flow_usd",
        )
    }
    fm |= {
        "shares_change": lambda x: "n/a" if x is None else f"{x:+,.0f}",
        "net_shares": lambda x: "n/a" if x is None else f"{x:+,.0f}",
        "gross_to_net": lambda x: "n/a" if x is None else f"{x:,.1f}x",
        "flags": lambda x: ",".join(decode(x)) if x else "",
        "units": lambda x: "n/a" if x is None else f"{x:+,.2f}",
        "net_units": lambda x: "n/a" if x is None else f"{x:+,.2f}",
    }
    console.print(
        frame_table(
            f"{t} creations/redemptions ({unit_txt}); last {shown.height} of {table.height} rows", shown, fm
        )
    )
    if freq == "m" and nport.height == 0:
        console.print("No N-PORT rows for this fund: gross sales and redemptions are unknown (not zero).")


def _empty_nport() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "month_end": pl.Date,
            "sales": pl.Float64,
            "reinvestment": pl.Float64,
            "redemption": pl.Float64,
            "net_flow": pl.Float64,
        }
    )


def _series_for(store: Store, key: str) -> tuple[str, str | None]:
    """(series id as stored in `holdings`, ticker) for a ticker, series id or CIK key."""
    k = key.strip().upper()
    stored = store.query("SELECT DISTINCT series_id FROM holdings")["series_id"].to_list()
    if k in stored:
        funds = pipeline.funds_table(store)
        hit = (
            funds.filter(pl.col("series_id") == k)["ticker"].to_list() if "series_id" in funds.columns else []
        )
        return k, (hit[0] if hit else None)
    funds = pipeline.funds_table(store).filter(pl.col("ticker") == k)
    ids = []
    if funds.height:
        if "series_id" in funds.columns:
            ids += funds["series_id"].drop_nulls().to_list()
        if "cik" in funds.columns:
            ids += [f"CIK{c}" for c in funds["cik"].drop_nulls().to_list()]
    ids += pipeline.nport_table(store, k)["series_id"].unique().to_list()
    for sid in ids:
        if sid in stored:
            return sid, k
    raise NotFoundError(
        f"no N-PORT holdings for {key} in {store.path}; stored series: {', '.join(sorted(stored)) or 'none'} "
        "(`etfflow import` an NPORT-P filing)"
    )


@app.command()
def holdings(
    key: Annotated[
        str | None, typer.Argument(help="Ticker or series id (S000...; CIK... for trusts).")
    ] = None,
    date: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Report date (default: latest).")
    ] = None,
    compare: Annotated[
        tuple[dt.datetime, dt.datetime] | None,
        typer.Option(formats=["%Y-%m-%d"], help="Two report dates: what was added, removed and reweighted."),
    ] = None,
    look_through_: Annotated[
        bool, typer.Option("--look-through", help="Fund flows spread over holdings, summed per security.")
    ] = False,
    window: Annotated[int, typer.Option(help="Sessions of fund flows for --look-through.", min=1)] = 20,
    n: Annotated[int, typer.Option(help="Rows per list.")] = 10,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """N-PORT holdings: positions, top-10 weight, allocation, changes between dates, look-through flows."""
    from etfflow.signals.holdings import compare_holdings, summarize

    with handled(), Store(db, read_only=True) as store:
        label = _label(store)
        if look_through_:
            table, info = _look_through(store, key, window)
            if as_json:
                emit_json({"label": label, **info, "securities": nan_to_none(table).to_dicts()})
                return
            console.print(
                f"Look-through of {info['funds']} fund(s) with holdings, "
                f"flows {info['start']} .. {info['end']} "
                f"(net {fmt_usd(info['net_flow_usd'])}): flow x weight, summed per security.",
                highlight=False,
            )
            console.print(
                frame_table(
                    "Largest flows into and out of underlying securities",
                    table.head(n),
                    {"flow_usd": fmt_usd},
                )
            )
            return
        if key is None:
            listing = store.query(
                "SELECT series_id, count(DISTINCT report_date) AS reports, min(report_date) AS first, "
                "max(report_date) AS last, count(*) AS rows FROM holdings "
                "GROUP BY series_id ORDER BY series_id"
            )
            if as_json:
                emit_json({"label": label, "series": listing.to_dicts()})
                return
            console.print(frame_table("N-PORT holdings in the warehouse", listing, {}))
            return
        sid, ticker = _series_for(store, key)
        h = store.read("holdings").filter(pl.col("series_id") == sid)
    with handled():
        if compare is not None:
            ch = compare_holdings(h, compare[0].date(), compare[1].date(), n=n)
            if as_json:
                emit_json({"label": label, "ticker": ticker, **ch.as_dict()})
                return
            console.print(
                f"{ticker or sid} holdings {ch.start} -> {ch.end}: "
                f"{ch.positions_start} -> {ch.positions_end} "
                f"securities; added {ch.added}, removed {ch.removed}, kept {ch.kept}; "
                f"turnover {ch.turnover:.2%} (one-way, half the sum of weight changes).",
                highlight=False,
            )
            for w in ch.warnings:
                console.print(f"[bold yellow]warning:[/] {w}", highlight=False)
            wf = {c: lambda x: "" if x is None else f"{100 * x:.3f}%" for c in ("weight_start", "weight_end")}
            wf["change"] = lambda x: fmt_pct(x, 3)
            console.print(frame_table("Largest additions (weight up)", ch.additions, wf))
            console.print(frame_table("Largest deletions (weight down)", ch.deletions, wf))
            return
        s = summarize(h, date.date() if date else None)
    if as_json:
        emit_json({"label": label, "ticker": ticker, **s.as_dict()})
        return
    pct: Callable[[Any], str] = lambda x: "" if x is None else f"{100 * x:.2f}%"  # noqa: E731
    console.print(
        f"{ticker or sid} on {s.report_date}: {s.positions} securities ({s.rows} filing rows), "
        f"{fmt_usd(s.value_usd).lstrip('+')}; weights sum to {s.weight_sum:.2%} of net assets; "
        f"top 10 {s.top10_weight:.2%}.",
        highlight=False,
    )
    console.print(frame_table("Top 10 positions", s.top10, {"value_usd": fmt_usd, "weight": pct}))
    console.print(frame_table("By asset category", s.by_asset, {"weight": pct}))
    console.print(
        frame_table("By issuer category (N-PORT states no GICS sector)", s.by_issuer.head(n), {"weight": pct})
    )


def _look_through(store: Store, key: str | None, window: int) -> tuple[pl.DataFrame, dict[str, Any]]:
    from etfflow.signals.holdings import look_through
    from etfflow.signals.overview import window_totals

    h = store.read("holdings")
    if key is not None:
        sid, _ = _series_for(store, key)
        h = h.filter(pl.col("series_id") == sid)
    funds = pipeline.funds_table(store)
    # series id -> ticker from the funds table (series id or CIK) and from N-PORT's own tickers
    pairs: dict[str, str] = {}
    if "series_id" in funds.columns:
        pairs |= {s: t for s, t in funds.select("series_id", "ticker").drop_nulls().iter_rows()}
    if "cik" in funds.columns:
        pairs |= {f"CIK{c}": t for c, t in funds.select("cik", "ticker").drop_nulls().iter_rows()}
    nport = pipeline.nport_table(store)
    pairs |= {s: t for s, t in nport.select("series_id", "ticker").drop_nulls().unique().iter_rows()}
    sids = sorted(set(h["series_id"].to_list()) & set(pairs))
    if not sids:
        raise NotFoundError("no fund has both N-PORT holdings and a ticker with flows: import both")
    tick = [pairs[s] for s in sids]
    flows = store.read("flows_daily", tickers=tick)
    if flows.height == 0:
        raise NotFoundError(f"no flows for {', '.join(tick)}: look-through needs fund flows")
    tot = window_totals(flows, None, window=window)
    ff = tot.join(pl.DataFrame({"series_id": sids, "ticker": tick}), on="ticker").select(
        "series_id", "flow_usd"
    )
    end = tot["end"].max()
    table = look_through(ff, h, as_of=end if isinstance(end, dt.date) else None)
    info = {
        "funds": ff.height,
        "start": tot["start"].min(),
        "end": end,
        "net_flow_usd": float(ff["flow_usd"].sum()),
        "window": window,
    }
    return table, info


LEVELS = ("sector", "group", "category", "asset_class")


def _fund_panel(
    demo: str | None, seed: int, start: str | None, end: str | None, db: Any
) -> tuple[Any, pl.DataFrame]:
    from etfflow.backtest import data

    if demo is not None:
        from etfflow.sources.demo import build_demo

        market = build_demo(demo, seed, start=start, end=end)
        return data.panel_from_demo(market), market.funds
    with Store(db, read_only=True) as store:
        return data.panel_from_store(store, start=start, end=end), pipeline.funds_table(store)


@app.command()
def events(
    level: Annotated[
        str, typer.Option(help="Group level: sector, group (finer), category or asset_class.")
    ] = "sector",
    freq: Annotated[str, typer.Option(help="w (weekly) or m (monthly) periods.")] = "w",
    window: Annotated[int, typer.Option(help="Periods of history for the flow percentile.", min=2)] = 104,
    demo: Annotated[
        str | None, typer.Option(help="Run on a fresh SYNTHETIC demo market with this preset.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Demo seed.")] = 7,
    start: Annotated[str | None, typer.Option(help="First date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last date (YYYY-MM-DD).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write the tables to this file: Markdown, or HTML for *.html.")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Huatai event study: next-period return by flow-percentile bucket per group (win rate, P/L, size)."""
    from etfflow.backtest import data
    from etfflow.backtest.events import flow_event_study

    if level not in LEVELS:
        raise typer.BadParameter(f"use one of {', '.join(LEVELS)}", param_hint="--level")
    if freq not in ("w", "m"):
        raise typer.BadParameter("use w or m", param_hint="--freq")
    with handled():
        panel, funds = _fund_panel(demo, seed, start, end, db)
        gp = (
            data.sector_panel(panel, funds) if level == "sector" else data.group_panel(panel, funds, by=level)
        )
        study = flow_event_study(gp, freq=freq, window=window)
        text = _events_markdown(study, level)
        if out is not None:
            _write(out, text, f"Flow-percentile event study ({level})")
    if as_json:
        emit_json({"level": level, **study.as_dict()})
        return
    if study.label:
        console.print(f"[bold yellow]{study.label}[/]", highlight=False)
    pf = {"mean_return": fmt_pct, "excess": fmt_pct, "win_rate": lambda x: "n/a" if x is None else f"{x:.0%}"}
    pf["pl_ratio"] = lambda x: "n/a" if x is None else f"{x:.2f}"
    console.print(
        frame_table(
            f"Next-{'week' if freq == 'w' else 'month'} return by flow-percentile bucket, {len(gp.assets)} "
            f"{level} groups pooled ({study.periods} periods, {window}-period window)",
            study.pooled,
            pf,
        )
    )
    corr = "n/a" if study.size_rank_corr is None else f"{study.size_rank_corr:+.2f}"
    console.print(
        "Size: rank correlation across groups between AUM share and the lowest bucket's excess return: "
        f"{corr}. "
        "Per-group tables: --json or --out.",
        highlight=False,
    )


_PAGE_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .5em}"
    ".r{text-align:right}.banner{background:#fff3cd;padding:.5em;font-weight:bold}"
)


def _write(path: Path, markdown: str, title: str) -> None:
    """Markdown as written, or a self-contained HTML page (no scripts, no CDN) when the name ends .html."""
    text = markdown
    if path.suffix.lower() in (".html", ".htm"):
        from etfflow.report.markup import markdown_to_html, page_start

        text = "\n".join(
            [*page_start(title, _PAGE_CSS), markdown_to_html(markdown.splitlines()), "</main></body></html>"]
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}") from exc


def _events_markdown(study: Any, level: str) -> str:
    from etfflow.report.markup import md_table

    def rows(frame: pl.DataFrame, first: list[str]) -> list[list[str]]:
        out = []
        for x in frame.to_dicts():
            out.append(
                [str(x[c]) for c in first]
                + [
                    str(x["events"]),
                    fmt_pct(x["mean_return"]),
                    fmt_pct(x["excess"]),
                    "n/a" if x["win_rate"] is None else f"{x['win_rate']:.0%}",
                    "n/a" if x["pl_ratio"] is None else f"{x['pl_ratio']:.2f}",
                ]
            )
        return out

    head = ["Events", "Mean next return", "Excess", "Win rate", "P/L ratio"]
    lines = [f"# Flow-percentile event study ({level} level, {study.freq}, window {study.window})", ""]
    if study.label:
        lines += [f"> **{study.label}**", ""]
    lines += ["## Pooled", "", *md_table(["Bucket", *head], rows(study.pooled, ["bucket"]), "lrrrrr")]
    lines += ["", "## By group", ""]
    lines += md_table(["Group", "Bucket", *head], rows(study.by_group, ["group", "bucket"]), "llrrrrr")
    corr = "n/a" if study.size_rank_corr is None else f"{study.size_rank_corr:+.2f}"
    lines += ["", f"Size relation (Spearman, AUM share vs lowest-bucket excess): {corr}", ""]
    return "\n".join(lines)


@app.command()
def decompose(
    ticker: Annotated[str, typer.Argument(help="Fund ticker.")],
    demo: Annotated[
        str | None, typer.Option(help="Run on a fresh SYNTHETIC demo market with this preset.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Demo seed.")] = 7,
    start: Annotated[str | None, typer.Option(help="First date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last date (YYYY-MM-DD).")] = None,
    n: Annotated[int, typer.Option(help="Last rows to show.")] = 10,
    out: Annotated[
        Path | None,
        typer.Option(help="Also write the components to this file: Markdown, or HTML for *.html."),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Xu-Yin-Zhao components of a fund's daily flows: arbitrage, demand and unexpected parts."""
    from etfflow.backtest.decompose import decompose_flows

    t = ticker.upper()
    with handled():
        panel, _ = _fund_panel(demo, seed, start, end, db)
        comp = decompose_flows(panel, t)
        if out is not None:
            _write(out, _decompose_markdown(comp), f"{t} flow components")
    if as_json:
        emit_json(comp.as_dict())
        return
    if comp.label:
        console.print(f"[bold yellow]{comp.label}[/]", highlight=False)
    vs = comp.variance_share
    shares = ", ".join(f"{k} {'n/a' if v is None else f'{v:.0%}'}" for k, v in vs.items())
    coefs = ", ".join(f"{k} {'n/a' if v is None else f'{v:+.4g}'}" for k, v in comp.coefficients.items())
    console.print(
        f"{t}: {comp.days} trade dates; variance of the daily flow explained: {shares}.", highlight=False
    )
    console.print(f"Coefficients (last window): {coefs}", highlight=False)
    pf = {c: lambda x: fmt_pct(x, 3) for c in ("flow_pct", "arbitrage", "demand", "constant", "unexpected")}
    console.print(frame_table("Daily flow components (% of prior AUM)", comp.table.tail(n), pf))


def _decompose_markdown(comp: Any) -> str:
    from etfflow.report.markup import md_table

    lines = [f"# {comp.ticker}: arbitrage, demand and unexpected flow (Xu-Yin-Zhao)", ""]
    if comp.label:
        lines += [f"> **{comp.label}**", ""]
    shares = [[k, "n/a" if v is None else f"{v:.1%}"] for k, v in comp.variance_share.items()]
    lines += [f"{comp.days} trade dates. Share of the daily flow's variance:", ""]
    lines += md_table(["Component", "Variance share"], shares, "lr")
    coefs = [[k, "n/a" if v is None else f"{v:+.4g}"] for k, v in comp.coefficients.items()]
    lines += ["", "Coefficients of the last window:", ""]
    lines += md_table(["Regressor", "Coefficient"], coefs, "lr")
    rows = [
        [str(x["date"])]
        + [fmt_pct(x[c], 3) for c in ("flow_pct", "arbitrage", "demand", "constant", "unexpected")]
        for x in comp.table.tail(60).to_dicts()
    ]
    lines += ["", "Last 60 trade dates (% of prior AUM):", ""]
    lines += md_table(["Date", "Flow", "Arbitrage", "Demand", "Constant", "Unexpected"], rows, "lrrrrr")
    return "\n".join(lines) + "\n"
