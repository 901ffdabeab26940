"""Fill the SEC ids (cik, series_id, class_id) of the shipped taxonomy from SEC's ticker maps.

Usage: python scripts/build_sec_ids.py [--data ../shared/data] [--check]

Each fund's ids come from the newest ``sec/ids/company_tickers_mf_*.json`` snapshot that lists its
ticker (older snapshots fill tickers the newer one dropped, e.g. HACK). Unit investment trusts
(SPY, DIA, MDY, QQQ: they file N-PORT under their CIK, without series), grantor trusts and commodity
pools (GLD, IAU, SLV, USO, UNG, DBC: 1933-Act issuers filing 10-K, not N-PORT) have no series and are
absent from those maps; SEC's ``company_tickers.json`` would give their CIK but no copy of it is in
../shared/data, so their CIKs are HAND-ENTERED below from EDGAR's public company pages.
`--check` exits 1 if taxonomy.csv differs from what the script would write (nothing is written).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAXONOMY = ROOT / "src" / "etfflow" / "universe" / "taxonomy.csv"

#: HAND-ENTERED (not in any file under ../shared/data): registrant CIKs of series-less trusts, as
#: listed on EDGAR (https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany&CIK=<cik>).
HAND_ENTERED_CIKS: dict[str, str] = {
    "SPY": "0000884394",  # SPDR S&P 500 ETF Trust (UIT)
    "DIA": "0001041130",  # SPDR Dow Jones Industrial Average ETF Trust (UIT)
    "MDY": "0000936958",  # SPDR S&P MidCap 400 ETF Trust (UIT)
    "QQQ": "0001067839",  # Invesco QQQ Trust, Series 1 (UIT)
    "GLD": "0001222333",  # SPDR Gold Trust (grantor trust)
    "IAU": "0001278680",  # iShares Gold Trust (grantor trust)
    "SLV": "0001330568",  # iShares Silver Trust (grantor trust)
    "USO": "0001327068",  # United States Oil Fund, LP (commodity pool)
    "UNG": "0001376227",  # United States Natural Gas Fund, LP (commodity pool)
    "DBC": "0001383151",  # Invesco DB Commodity Index Tracking Fund (commodity pool)
}


def load_maps(ids_dir: Path) -> list[tuple[str, dict[str, tuple[str, str, str]]]]:
    """(file name, ticker -> (cik, series, class)) per company_tickers_mf snapshot, newest first."""
    out = []
    for path in sorted(ids_dir.glob("company_tickers_mf_*.json"), reverse=True):
        doc = json.loads(path.read_text(encoding="utf-8"))
        pos = {f: doc["fields"].index(f) for f in ("cik", "seriesId", "classId", "symbol")}
        table = {}
        for row in doc["data"]:
            sym = str(row[pos["symbol"]] or "").strip().upper()
            if sym:
                table[sym] = (str(row[pos["cik"]]).zfill(10), row[pos["seriesId"]], row[pos["classId"]])
        out.append((path.name, table))
    if not out:
        raise SystemExit(f"no company_tickers_mf_*.json under {ids_dir}")
    return out


def build(data: Path) -> tuple[str, dict[str, int]]:
    """The new taxonomy.csv text and how many funds got ids from each origin."""
    maps = load_maps(data / "sec" / "ids")
    text = TAXONOMY.read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    fields = list(reader.fieldnames or [])
    rows = list(reader)
    counts: dict[str, int] = {}
    for row in rows:
        ticker = row["ticker"]
        origin = "none"
        for name, table in maps:
            if ticker in table:
                row["cik"], row["series_id"], row["class_id"] = table[ticker]
                origin = name
                break
        else:
            if ticker in HAND_ENTERED_CIKS:
                row["cik"], row["series_id"], row["class_id"] = HAND_ENTERED_CIKS[ticker], "", ""
                origin = "hand-entered CIK"
        counts[origin] = counts.get(origin, 0) + 1
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue(), counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--check", action="store_true", help="only compare with taxonomy.csv")
    args = parser.parse_args()
    new, counts = build(args.data)
    for origin, n in sorted(counts.items()):
        sys.stdout.write(f"{n:4d} funds: {origin}\n")
    if args.check:
        same = new == TAXONOMY.read_text(encoding="utf-8")
        sys.stdout.write("taxonomy.csv is up to date\n" if same else "taxonomy.csv differs\n")
        return 0 if same else 1
    TAXONOMY.write_text(new, encoding="utf-8")
    sys.stdout.write(f"wrote {TAXONOMY}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
