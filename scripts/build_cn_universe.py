"""Build the shipped China A-share data files in src/etfflow/universe/ from ../shared/data/cn/.

    .venv/bin/python scripts/build_cn_universe.py [DATA_DIR]

- `cn_funds.csv`: the 1,613 Shanghai/Shenzhen ETFs of the etf-flow-radar classification (snapshot
  2026-08-21) as `funds` rows: ticker in exchange form (`512880.SH`), name, asset class, category
  (industry / broad / theme: the source's "style" kind), group (the source's group id, e.g. fin_broker),
  group_name (its Chinese name) and the Shenwan level-1 industry.
- `cn_wind_returns.csv`: which fund each column of the Wind daily-return files belongs to. The files
  name columns only (names repeat in the Wind panels); a ticker is kept when its price file's
  close-to-close returns equal the column's on every common day, or when the name is unique in the
  Wind panel header; otherwise it stays empty (the series is kept under its name).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import polars as pl

from etfflow.sources.cn_classification import classification_frame

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "etfflow" / "universe"
CLASSIFICATION = "classification/etf_flow_radar_universe_classification_20260821.csv"


def build_funds(data: Path) -> pl.DataFrame:
    return classification_frame(data / CLASSIFICATION).sort("ticker")


def _price_returns(data: Path, code: str) -> pl.DataFrame | None:
    files = sorted((data / "prices_daily").glob(f"{code}_*.csv"))
    if not files:
        return None
    d = pl.read_csv(files[0]).rename({"": "date"})
    return d.select("date", (pl.col("CLOSE") / pl.col("CLOSE").shift(1) - 1).alias("p"))


def build_returns_map(data: Path) -> pl.DataFrame:
    with (data / "monthly_wind" / "ETF_aum_amount.csv").open(encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        names, codes = next(reader)[1:], next(reader)[1:]
    etf = pl.read_csv(data / "monthly_wind" / "ETF_daily_simple_returns.csv", infer_schema=False)
    idx = pl.read_csv(data / "monthly_wind" / "index_daily_simple_returns.csv", infer_schema=False)
    out = []
    for col, index in zip(etf.columns[1:], idx.columns[1:], strict=True):
        cands = sorted({c for n, c in zip(names, codes, strict=True) if n == col})
        series = etf.select(pl.col(etf.columns[0]).alias("date"), pl.col(col).cast(pl.Float64)).drop_nulls()
        chosen, how = None, "unmatched"
        for code in cands:
            p = _price_returns(data, code.split(".")[0])
            if p is None:
                continue
            j = series.join(p, on="date").drop_nulls()
            if j.height and bool(((j[col] - j["p"]).abs() < 1e-6).all()):
                chosen, how = code, f"price_file ({j.height} days equal)"
        if chosen is None and len(cands) == 1:
            chosen, how = cands[0], "unique name in the Wind panel"
        out.append({"column": col, "ticker": chosen, "index": index, "matched_by": how})
    return pl.DataFrame(out)


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "cn"
    funds = build_funds(data)
    funds.write_csv(OUT / "cn_funds.csv")
    returns = build_returns_map(data)
    returns.write_csv(OUT / "cn_wind_returns.csv")
    sys.stdout.write(f"cn_funds.csv: {funds.height} funds; cn_wind_returns.csv: {returns.height} columns\n")


if __name__ == "__main__":
    main()
