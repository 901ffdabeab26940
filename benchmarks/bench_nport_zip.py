"""Peak memory of reading an N-PORT data-set zip whose FUND_REPORTED_INFO.tsv expands to ~200 MB.

The zip is SYNTHETIC: one fund row (made-up values, 60 columns like the published member) repeated
until the member reaches --mb megabytes; deflate shrinks it to well under 1 MB (a "zip bomb" shape).
Each read runs in a fresh process and reports its peak RSS (ru_maxrss) and time; the row folding in
`read_nport_dataset` keeps memory bounded by the distinct (series, month) keys, not by the rows.
`--compare-mb` also runs the reader with folding switched off on a smaller member, for scale.

    python benchmarks/bench_nport_zip.py [--mb 200] [--compare-mb 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

FLOWS = [f"{k}_FLOW_MON{i}" for i in (1, 2, 3) for k in ("SALES", "REINVESTMENT", "REDEMPTION")]
PAD = [f"COL_{i:02d}" for i in range(60 - 4 - len(FLOWS))]
INFO = ["ACCESSION_NUMBER", "SERIES_NAME", "SERIES_ID", "NET_ASSETS", *FLOWS, *PAD]

CHILD = """
import json, resource, sys, time
from etfflow.sources import sec_nport as N
if sys.argv[2] == "off":
    N._CHUNK_ROWS = 10**12
t = time.perf_counter()
frame = N.read_nport_dataset(sys.argv[1])
secs = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": frame.height, "seconds": round(secs, 2), "peak_rss_mb": round(rss, 1)}))
"""


def write_zip(path: Path, megabytes: int) -> tuple[int, int]:
    """Write the synthetic data set; returns (rows in FUND_REPORTED_INFO.tsv, its expanded bytes)."""
    acc = "0000000001-24-000001"
    row = "\t".join(
        [acc, "Synthetic Bond Fund", "S000000001", "1000000", *["100"] * 9, *["x" * 6] * len(PAD)]
    )
    line = (row + "\n").encode()
    rows = megabytes * 1_000_000 // len(line)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(
            "SUBMISSION.tsv", f"ACCESSION_NUMBER\tFILING_DATE\tREPORT_DATE\n{acc}\t28-MAY-2024\t31-MAR-2024\n"
        )
        zf.writestr("REGISTRANT.tsv", f"ACCESSION_NUMBER\tCIK\n{acc}\t1\n")
        with zf.open("FUND_REPORTED_INFO.tsv", "w") as fh:
            fh.write(("\t".join(INFO) + "\n").encode())
            block = line * 10_000
            for _ in range(rows // 10_000):
                fh.write(block)
            fh.write(line * (rows % 10_000))
    return rows, rows * len(line)


def measure(path: Path, folding: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), folding], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--compare-mb", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for mb, modes in ((args.mb, ("on",)), (args.compare_mb, ("on", "off"))):
            if mb <= 0:
                continue
            zp = Path(tmp) / f"nport_{mb}.zip"
            rows, size = write_zip(zp, mb)
            for mode in modes:
                r = measure(zp, mode)
                print(
                    f"{zp.stat().st_size / 1e3:,.0f} kB zip -> {size / 1e6:,.0f} MB TSV, {rows:,} rows; "
                    f"folding {mode}: {r['rows']} fund-months kept, {r['seconds']} s, "
                    f"peak RSS {r['peak_rss_mb']:,.0f} MB"
                )


if __name__ == "__main__":
    main()
