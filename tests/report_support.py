"""Shared by the report tests: a small demo warehouse built once and cached by content."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest

DEMO_START = "2024-01-01"
DEMO_END = "2025-06-30"
DEMO_SEED = 7
GOLDEN_AS_OF = "2025-06-13"


def demo_warehouse(config: pytest.Config) -> Path:
    """A demo warehouse (2024-01 .. 2025-06) in pytest's cache, rebuilt when the demo code changes."""
    from etfflow import pipeline
    from etfflow.sources import demo
    from etfflow.store import Store

    # everything that shapes the stored rows: the demo model, the flow engine, schema and taxonomy
    pkg = Path(pipeline.__file__).parent
    parts = [Path(demo.__file__), pkg / "pipeline.py", pkg / "schema.py", pkg / "store.py"]
    parts += sorted((pkg / "flows").glob("*.py")) + sorted((pkg / "universe").glob("*.*"))
    key = hashlib.sha256(f"{DEMO_START}|{DEMO_END}|{DEMO_SEED}".encode())
    for f in parts:
        key.update(f.read_bytes())
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    folder = cache.mkdir("etfflow-report-demo") if cache is not None else Path(tempfile.mkdtemp())
    path = folder / f"demo-{key.hexdigest()[:16]}.duckdb"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with Store(tmp) as store:
            pipeline.load_demo(store, "default", DEMO_SEED, start=DEMO_START, end=DEMO_END)
        tmp.replace(path)
    return path
