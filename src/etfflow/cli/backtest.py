"""The `backtest` command: a published flow strategy on the warehouse or a fresh demo market."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from etfflow.cli.app import DbOpt, FlowsOpt, JsonOpt, app, console, emit_json, handled
from etfflow.errors import ConfigError, NotFoundError
from etfflow.safety import atomic_write_text, dumps_json

FORMATS = ("md", "html", "json")


def _cast(field: dataclasses.Field[Any], text: str) -> Any:
    """A --param value as the field's type (judged from its default)."""
    default = field.default
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{field.name} takes true or false, not {text!r}")
    if isinstance(default, tuple):
        return tuple(v.strip() for v in text.split(",") if v.strip())
    try:
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if default is None:
            return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    except ValueError as exc:
        raise ConfigError(f"{field.name} takes a number, not {text!r}") from exc
    return text


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} takes KEY=VALUE, not {item!r}")
        out[key.strip()] = value.strip()
    return out


def _overrides(params_cls: type, given: dict[str, Any], extra: dict[str, str]) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    out: dict[str, Any] = {}
    for key, value in {**given, **extra}.items():
        if value is None:
            continue
        if key not in fields:
            raise ConfigError(f"this strategy has no parameter {key!r}; it takes {', '.join(sorted(fields))}")
        out[key] = _cast(fields[key], value) if isinstance(value, str) and key in extra else value
    return out


def _grid(items: list[str] | None) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for key, text in _pairs(items, "--grid").items():
        values: list[Any] = []
        for raw in text.split(","):
            v = raw.strip()
            if not v:
                continue
            try:
                values.append(int(v) if re.fullmatch(r"[+-]?\d+", v) else float(v))
            except ValueError:
                values.append(v)
        out[key] = values
    return out


def _read_prices(specs: list[str] | None) -> Any:
    """Price files given as PATH or TICKER=PATH (gzip or not), as one price frame.

    Known layouts (Stooq, AlphaVantage, Yahoo adjusted close, yfinance exports: see
    etfflow.sources.prices) are read by content, their ticker from the file, the TICKER= prefix or the
    file name; any other CSV needs a date column and close or adjusted_close (ticker = file name).
    """
    if not specs:
        return None
    import polars as pl

    from etfflow.backtest.data import price_frame
    from etfflow.sources.base import read_bytes
    from etfflow.sources.prices import layout_of, price_table, ticker_from_name

    frames = []
    for spec in specs:
        ticker, sep, path = spec.partition("=")
        p = Path(path if sep else spec)
        if not p.exists():
            raise NotFoundError(f"no such price file: {p}")
        data = read_bytes(p)
        if layout_of(data[:4096]) is not None:
            frames.append(price_table(p, ticker=ticker if sep else None))
            continue
        name = ticker if sep else (ticker_from_name(p) or p.stem)
        try:
            raw = pl.read_csv(data, infer_schema_length=10_000)
            date = next((c for c in raw.columns if c.strip().lower() == "date"), None)
            if date is not None and raw[date].dtype == pl.String:  # '1998-12-22 00:00:00-05:00': local date
                raw = raw.with_columns(pl.col(date).str.slice(0, 10).str.to_date(strict=False))
        except pl.exceptions.PolarsError as exc:
            raise ConfigError(f"cannot read price file {p}: {exc}") from exc
        frames.append(price_frame(raw, name))
    return pl.concat(frames)


@app.command()
def backtest(
    strategy: Annotated[
        str,
        typer.Argument(
            help="percentile_rotation, unexpected_flow, flow_momentum, price_momentum (or a preset name)."
        ),
    ],
    preset: Annotated[str | None, typer.Option(help="Named parameter set (see --list).")] = None,
    window: Annotated[
        int | None, typer.Option(help="Signal window (periods of --freq, or sessions).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="percentile_rotation: long at or below this percentile.")
    ] = None,
    upper: Annotated[
        float | None, typer.Option(help="percentile_rotation: short at or above this percentile.")
    ] = None,
    freq: Annotated[str | None, typer.Option(help="Signal and rebalance frequency: d, w or m.")] = None,
    side: Annotated[str | None, typer.Option(help="long, short or long_short.")] = None,
    cost_bps: Annotated[float | None, typer.Option(help="Costs in bps of two-sided turnover.")] = None,
    execution: Annotated[
        str | None, typer.Option(help="close (close-to-close) or next_open (next open-to-close).")
    ] = None,
    top: Annotated[float | None, typer.Option(help="Momentum: fraction of assets per leg.")] = None,
    direction: Annotated[
        str | None, typer.Option(help="unexpected_flow: informed or contrarian reading.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Any other parameter as KEY=VALUE (repeatable).")
    ] = None,
    universe: Annotated[
        str | None,
        typer.Option(help="sectors (groups of the taxonomy) or funds; default: the strategy's own."),
    ] = None,
    tickers: Annotated[
        str | None, typer.Option(help="Comma-separated funds (implies --universe funds).")
    ] = None,
    per_asset: Annotated[
        bool, typer.Option("--per-asset", help="Time series: one backtest per asset against its own price.")
    ] = False,
    basis: Annotated[str | None, typer.Option(help="Returns from nav, close or prices (--prices).")] = None,
    prices: Annotated[
        list[str] | None,
        typer.Option(help="Price CSV (date, open, close, adjusted_close): PATH or TICKER=PATH (repeatable)."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First date (YYYY-MM-DD); with --demo the market's.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Last date (YYYY-MM-DD); with --demo the market's.")] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Also run the parameter grid (see --grid).")] = False,
    grid: Annotated[
        list[str] | None,
        typer.Option(help="Sweep axis as KEY=V1,V2,... (repeatable); default grid otherwise."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="md, html (self-contained) or json.")] = "md",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here (html default: reports/etfflow-backtest-*.html).")
    ] = None,
    demo: Annotated[
        str | None,
        typer.Option(help="Run on a fresh SYNTHETIC demo market: null, default, pressure, informed."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Demo market seed.")] = 7,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the Sharpe CI.", min=1)] = 2000,
    list_presets: Annotated[
        bool, typer.Option("--list", help="List strategies and presets, then exit.")
    ] = False,
    flow_source: FlowsOpt = "best",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Backtest a flow strategy and write its tearsheet (statistics, charts, optional sweep)."""
    from etfflow.backtest import strategies as st

    if list_presets:
        _print_presets(as_json)
        return
    if as_json:
        fmt = "json"
    if fmt not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")
    with handled():
        name = strategy
        if strategy in st.PRESETS and preset is None:
            strategy, preset = st.PRESETS[strategy][0], name
        if strategy not in st.STRATEGIES:
            raise ConfigError(f"unknown strategy {strategy!r}; choose from {', '.join(st.STRATEGIES)}")
        spec = st.STRATEGIES[strategy]
        given = {
            "window": window,
            "threshold": threshold,
            "upper": upper,
            "freq": freq,
            "side": side,
            "cost_bps": cost_bps,
            "execution": execution,
            "top": top,
            "direction": direction,
        }
        overrides = _overrides(spec.params, given, _pairs(param, "--param"))
        _, params = st.resolve(strategy, preset, **overrides)
        preset_name = preset or st.DEFAULT_PRESET[strategy]
        tick = [t.strip().upper() for t in tickers.split(",") if t.strip()] if tickers else None
        uni = universe or ("funds" if tick else spec.universe)
        if uni not in ("sectors", "funds"):
            raise ConfigError(f"--universe must be sectors or funds, not {uni!r}")
        panel = _panel(demo, seed, db, tick, basis, prices, start, end, uni, flow_source)
        panels = (
            [(a, panel.select([a])) for a in panel.assets] if per_asset else [(_uni_name(uni, panel), panel)]
        )
        runs = []
        sweeps = {}
        for label, pn in panels:
            run = st.run_strategy(
                pn,
                strategy,
                preset_name,
                params=params,
                start=None if demo else start,
                end=None if demo else end,
                n_boot=n_boot,
                universe=label,
            )
            runs.append(run)
            if sweep:
                sweeps[label] = st.sweep_strategy(
                    pn, strategy, _grid(grid) or None, preset=preset_name, **overrides
                )
        _write(runs, sweeps, fmt, out, preset_name)


def _uni_name(uni: str, panel: Any) -> str:
    if uni == "sectors":
        return "sectors"
    return "+".join(panel.assets) if len(panel.assets) <= 3 else f"{len(panel.assets)} funds"


def _panel(
    demo: str | None,
    seed: int,
    db: Path | None,
    tickers: list[str] | None,
    basis: str | None,
    prices: list[str] | None,
    start: str | None,
    end: str | None,
    universe: str,
    flow_source: str = "best",
) -> Any:
    from etfflow.backtest import data

    price_rows = _read_prices(prices)
    if demo is not None:
        from etfflow.sources.demo import build_demo

        market = build_demo(demo, seed, start=start, end=end)
        panel = data.panel_from_demo(market, basis=basis)  # type: ignore[arg-type]
        funds = market.funds
    else:
        from etfflow.pipeline import funds_table
        from etfflow.store import Store

        with Store(db, read_only=True) as store:
            panel = data.panel_from_store(
                store,
                basis=basis,  # type: ignore[arg-type]
                prices=price_rows,
                flow_source=flow_source,
            )
            funds = funds_table(store)
    if universe == "sectors":
        return data.sector_panel(panel, funds)
    if tickers:
        return panel.select(tickers)
    return panel


def _print_presets(as_json: bool) -> None:
    from etfflow.backtest import strategies as st

    rows: list[dict[str, Any]] = [
        {"preset": k, "strategy": s, "params": dataclasses.asdict(p)} for k, (s, p) in st.PRESETS.items()
    ]
    if as_json:
        emit_json({"strategies": {k: v.summary for k, v in st.STRATEGIES.items()}, "presets": rows})
        return
    for k, v in st.STRATEGIES.items():
        console.print(f"{k}: {v.summary}", highlight=False)
    for r in rows:
        short = ", ".join(f"{a}={b}" for a, b in r["params"].items() if a not in ("regressors",))
        console.print(f"  {r['preset']} ({r['strategy']}): {short}", highlight=False)


def _write(runs: list[Any], sweeps: dict[str, Any], fmt: str, out: Path | None, name: str) -> None:
    from etfflow.backtest.tearsheet import Tearsheet, render_html, render_json, render_markdown

    ts = Tearsheet(runs, sweeps)
    if fmt == "json":
        payload = render_json(ts, series=out is not None)
        if out is None:
            emit_json(payload)
            return
        text = dumps_json(payload) + "\n"
    elif fmt == "html":
        text = render_html(ts)
        out = out or Path("reports") / f"etfflow-backtest-{name}.html"
    else:
        text = render_markdown(ts)
        if out is None:
            sys.stdout.write(text)
            return
    try:
        atomic_write_text(out, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc}") from exc
    if ts.label:
        console.print(ts.label, style="bold yellow", highlight=False)
    r = runs[0]
    console.print(
        f"Wrote {out} ({fmt}): {r.strategy} {r.name}, Sharpe {r.stats['sharpe']:.2f}, "
        f"t {r.stats['t_stat']:.2f}" + (f" (+{len(runs) - 1} more runs)" if len(runs) > 1 else ""),
        highlight=False,
    )
