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
    for raw_key, text in _pairs(items, "--grid").items():
        key = raw_key.replace("-", "_")
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


def _usage(message: str, hint: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=hint)


def _suggest(word: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.5)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def _check_name(strategy: str, preset: str | None) -> None:
    """Unknown strategy or preset names are usage errors (exit 2) with suggestions and the list."""
    from etfflow.backtest import strategies as st

    names = [*st.STRATEGIES, *st.PRESETS]
    if strategy not in names:
        raise _usage(
            f"unknown strategy or preset {strategy!r}; {_suggest(strategy, names)}"
            f"strategies: {', '.join(st.STRATEGIES)}; presets: {', '.join(st.PRESETS)} "
            "(etfflow backtest --list describes them)",
            "STRATEGY",
        )
    if preset is not None and preset not in st.PRESETS:
        raise _usage(
            f"unknown preset {preset!r}; {_suggest(preset, list(st.PRESETS))}"
            f"presets: {', '.join(st.PRESETS)}",
            "--preset",
        )


#: grid keys of percentile_rotation: the option names (window in periods of --freq) and window_years
_PR_GRID = ("threshold", "window", "window_years", "freq", "side", "cost_bps")


def sweep_grid(strategy: str, grid: dict[str, list[Any]], params: Any) -> dict[str, list[Any]] | None:
    """The sweep grid in the strategy's own keys; only the given axes vary, the rest stay at `params`.

    Keys are the option names (``--grid window=52,104`` with the ``--window`` option's units: periods
    of --freq). None (the strategy's default grid) when no axis is given.
    """
    if not grid:
        return None
    if strategy != "percentile_rotation":
        fields = [f.name for f in dataclasses.fields(type(params))]
        for k in grid:
            if k not in fields:
                raise _usage(
                    f"{strategy} has no parameter {k!r} to sweep; {_suggest(k, fields)}"
                    f"grid keys: {', '.join(fields)}",
                    "--grid",
                )
        return grid
    from etfflow.backtest.strategies import PER_YEAR

    for k in grid:
        if k not in _PR_GRID:
            raise _usage(
                f"percentile_rotation has no grid key {k!r}; {_suggest(k, list(_PR_GRID))}"
                f"grid keys: {', '.join(_PR_GRID)}",
                "--grid",
            )
    if "window" in grid and "window_years" in grid:
        raise _usage("give --grid window (periods of --freq) or window_years, not both", "--grid")
    freqs = [str(f) for f in grid.get("freq", [params.freq])]
    out: dict[str, list[Any]] = {
        "threshold": [float(x) for x in grid.get("threshold", [params.threshold])],
        "freq": freqs,
        "side": [str(x) for x in grid.get("side", [params.side])],
        "cost_bps": [float(x) for x in grid.get("cost_bps", [params.cost_bps])],
    }
    if "window_years" in grid:
        out["window_years"] = [float(x) for x in grid["window_years"]]
    else:
        if "window" in grid and len(set(freqs)) > 1:
            raise _usage(
                "--grid window counts periods of one frequency; with several freqs use window_years", "--grid"
            )
        windows = grid.get("window", [params.window])
        per = PER_YEAR[freqs[0]] if "window" in grid else PER_YEAR[params.freq]
        out["window_years"] = [float(w) / per for w in windows]
    return out


@app.command()
def backtest(
    strategy: Annotated[
        str | None,
        typer.Argument(
            help="percentile_rotation, unexpected_flow, flow_momentum, price_momentum (or a preset name)."
        ),
    ] = None,
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
        bool,
        typer.Option(
            "--per-asset", metavar="", help="Time series: one backtest per asset against its own price."
        ),
    ] = False,
    basis: Annotated[
        str | None,
        typer.Option(
            help="Returns: nav or close (total return where distributions are known) or prices (--prices)."
        ),
    ] = None,
    prices: Annotated[
        list[str] | None,
        typer.Option(help="Price CSV (date, open, close, adjusted_close): PATH or TICKER=PATH (repeatable)."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First date (YYYY-MM-DD); with --demo the market's.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Last date (YYYY-MM-DD); with --demo the market's.")] = None,
    sweep: Annotated[
        bool, typer.Option("--sweep", metavar="", help="Also run the parameter grid (see --grid).")
    ] = False,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            help="Sweep axis as OPTION=V1,V2,... in that option's units, e.g. window=52,104 (repeatable); "
            "only the given axes vary; without --grid the default grid."
        ),
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
        bool, typer.Option("--list", metavar="", help="List strategies and presets, then exit.")
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
    if strategy is None:
        raise _usage(
            f"name a strategy or preset (etfflow backtest --list); presets: {', '.join(st.PRESETS)}",
            "STRATEGY",
        )
    if as_json:
        fmt = "json"
    if fmt not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")
    _check_name(strategy, preset)
    sweep = sweep or bool(grid)  # a grid is a sweep
    with handled():
        grid_axes = _grid(grid) if grid else {}
        from etfflow.api import build_panel

        name = strategy
        if strategy in st.PRESETS and preset is None:
            strategy, preset = st.PRESETS[strategy][0], name
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
        axes = sweep_grid(strategy, grid_axes, params)
        tick = [t.strip().upper() for t in tickers.split(",") if t.strip()] if tickers else None
        uni = universe or ("funds" if tick else spec.universe)
        if uni not in ("sectors", "funds"):
            raise ConfigError(f"--universe must be sectors or funds, not {uni!r}")
        source = None
        if demo is None:
            from etfflow.cli.core import open_warehouse

            source = open_warehouse(db).path
        common: dict[str, Any] = {
            "demo": demo,
            "seed": seed,
            "db": source,
            "tickers": tick,
            "basis": basis,
            "prices": _read_prices(prices),
            "start": start,
            "end": end,
            "universe": uni,
            "flow_source": flow_source,
        }
        panel, basis_text = build_panel(**common)
        panels = (
            [(a, panel.select([a])) for a in panel.assets] if per_asset else [(_uni_name(uni, panel), panel)]
        )
        if per_asset and source is not None and uni == "funds":
            # one panel per fund, so that each tearsheet's notes count only its own fund
            panels = [(a, build_panel(**{**common, "tickers": [a]})[0]) for a in panel.assets]
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
                sweeps[label] = st.sweep_strategy(pn, strategy, axes, preset=preset_name, **overrides)
        _write(runs, sweeps, fmt, out, preset_name, basis_text)


def _uni_name(uni: str, panel: Any) -> str:
    if uni == "sectors":
        return "sectors"
    return "+".join(panel.assets) if len(panel.assets) <= 3 else f"{len(panel.assets)} funds"


def _print_presets(as_json: bool) -> None:
    from etfflow.backtest import strategies as st

    rows: list[dict[str, Any]] = [
        {"preset": k, "strategy": s, "params": dataclasses.asdict(p)} for k, (s, p) in st.PRESETS.items()
    ]
    if as_json:
        emit_json({"strategies": {k: v.summary for k, v in st.STRATEGIES.items()}, "presets": rows})
        return
    for k, v in st.STRATEGIES.items():
        console.print(f"[bold]{k}[/]: {v.summary}", highlight=False)
    for r in rows:
        short = ", ".join(f"{a}={b}" for a, b in r["params"].items() if a not in ("regressors",))
        console.print(f"  {r['preset']} ({r['strategy']}): {short}", highlight=False)


def _write(
    runs: list[Any], sweeps: dict[str, Any], fmt: str, out: Path | None, name: str, basis: str | None = None
) -> None:
    from etfflow.backtest.tearsheet import Tearsheet, render_html, render_json, render_markdown

    ts = Tearsheet(runs, sweeps, basis=basis)
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
            if console.is_terminal:
                from rich.markdown import Markdown

                console.print(Markdown(text))
            else:
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
