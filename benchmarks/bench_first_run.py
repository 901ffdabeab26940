"""What a newcomer waits for: wall time of whole CLI processes (median of 3), as `time` would show.

    python benchmarks/bench_first_run.py

Runs in a temporary HOME (the NYSE session cache is shared through XDG_CACHE_HOME, the numba cache
lives beside the package): `import etfflow`, `etfflow --help`, `etfflow demo`, then `top`, `sectors`,
`flows` and `report` on the demo warehouse it wrote. No timed asserts: it prints seconds.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).with_name("etfflow")


def timed(cmd: list[str], env: dict[str, str], runs: int = 3) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    home = tempfile.mkdtemp(prefix="etfflow-home-")
    env = {
        **os.environ,
        "HOME": home,
        "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")),
    }
    env.pop("ETFFLOW_DB", None)
    rows = [
        ("python -c 'import etfflow'", [sys.executable, "-c", "import etfflow"]),
        ("etfflow --help", [str(BIN), "--help"]),
        ("etfflow demo", [str(BIN), "demo"]),
        ("etfflow top --window 20 --by pct", [str(BIN), "top", "--window", "20", "--by", "pct"]),
        ("etfflow sectors", [str(BIN), "sectors"]),
        ("etfflow flows SPY --freq m", [str(BIN), "flows", "SPY", "--freq", "m"]),
        ("etfflow report --format html", [str(BIN), "report", "--format", "html", "--out", f"{home}/r.html"]),
    ]
    for name, cmd in rows:
        print(f"{timed(cmd, env):6.2f} s  {name}")


if __name__ == "__main__":
    main()
