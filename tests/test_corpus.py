"""The bad-input corpus (scripts/build_corpus.py): every broken or hostile variant of the real sample files.

Each case imports one file through the CLI in-process on a copy of one seeded warehouse. Refused files
must give exit code 1 and a message naming the file and the row and/or field, with the warehouse
unchanged (`Store.snapshot` before and after); counted drops must print the expected counts and change
no stored value; hostile names must be stored and printed literally. No case may let a Python
traceback reach the user. Cases waiting for another helper's feature are xfail (not strict).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from script_support import load_script

_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = _ROOT.parent / "shared" / "data"
corpus_script = load_script("build_corpus")

CASES = corpus_script.cases()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, Any, Path]]:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("corpus")
    with corpus_script.corpus(SHARED_DATA, work=root) as (_cases, bases, seed_db, snapshot, work):
        yield bases, seed_db, snapshot, work


def test_corpus_is_large_and_covers_every_importer() -> None:
    assert len(CASES) >= 100
    assert len({c.name for c in CASES}) == len(CASES)
    importers = {c.importer for c in CASES}
    assert {
        "ishares_workbook",
        "ishares_shares_csv",
        "ssga_gld_csv",
        "generic_csv",
        "generic_parquet",
        "generic_xlsx",
        "sec_nport_xml",
        "sec_nport_dataset",
        "sec_ncen",
        "sec_fund_ids",
        "vendor_flows",
        "cn_szse_shares",
        "cn_exchange_shares",
    } <= importers
    kinds = {c.expect.kind for c in CASES}
    assert {"error", "drop", "same", "kept", "store"} <= kinds


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.name, marks=[pytest.mark.xfail(reason=c.xfail, strict=False)] if c.xfail else [])
        for c in CASES
    ],
)
def test_case(case: Any, seeded: tuple[Any, Path, Any, Path]) -> None:
    bases, seed_db, snapshot, work = seeded
    out = corpus_script.run_case(case, bases, seed_db, snapshot, work)
    assert not out.traceback, out.output
    assert not out.failures, "; ".join(out.failures) + "\n" + out.output[-1500:]


def test_judge_catches_a_wrong_expectation(seeded: tuple[Any, Path, Any, Path]) -> None:
    """Negative control: the judge fails a case whose expectation is wrong (refused file called a drop)."""
    bases, seed_db, snapshot, work = seeded
    real = next(c for c in CASES if c.name == "generic_csv-nav-inf")
    wrong = corpus_script.Case(
        "control-wrong", real.importer, real.defect, real.build, corpus_script.drop(non_session_rows=1)
    )
    out = corpus_script.run_case(wrong, bases, seed_db, snapshot, work)
    assert out.code == 1 and any("exit code 1, expected 0" in f for f in out.failures)
    also = corpus_script.Case(
        "control-needle", real.importer, real.defect, real.build, corpus_script.error("row 999")
    )
    assert corpus_script.run_case(also, bases, seed_db, snapshot, work).failures == [
        "the message lacks 'row 999'"
    ]
