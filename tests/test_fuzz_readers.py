"""The differential fuzzer (scripts/fuzz_readers.py) on a few cases of a fixed seed.

Each case is a SYNTHETIC random panel, damaged at random, imported by the streamed path and by the
whole-file reader, fresh and over an earlier overlapping panel; the two must agree (outcome, message,
drop counts, `daily`, `flows_daily`) apart from the one documented difference (two errors in different
chunks, each path naming one). Negative controls show the comparison does fail when the paths differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from etfflow.store import Store
from script_support import load_script

fuzz = load_script("fuzz_readers")

SEED = 7
CASES = range(30)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_readers")


@pytest.mark.parametrize("case", CASES)
def test_streamed_and_whole_file_imports_agree(case: int, work: Path) -> None:
    result = fuzz.run_case(SEED, case, work=work)
    assert not fuzz.discrepancies(result), fuzz.describe(result)


def test_every_patched_attribute_is_restored(work: Path) -> None:
    before = {(mod.__name__, name): getattr(mod, name) for mod, name in fuzz.PATCHED}
    case = next(c for c in CASES if fuzz.generate(SEED, c, work).variant.get("no_sql"))
    fuzz.run_case(SEED, case, work=work)
    assert {(mod.__name__, name): getattr(mod, name) for mod, name in fuzz.PATCHED} == before


def test_a_row_lost_by_the_streamed_path_is_a_discrepancy(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control: the streamed path drops one stored row; the comparison must see it."""
    real = fuzz.pipeline.import_paths

    def lossy(store: Store, paths: list[Path], **options: Any) -> Any:
        out = real(store, paths, **options)
        store.connection.execute("DELETE FROM daily WHERE rowid = (SELECT min(rowid) FROM daily)")
        return out

    case = next(c for c in CASES if fuzz.run_case(SEED, c, work=work).outcome() == "accepted")
    monkeypatch.setattr(fuzz.pipeline, "import_paths", lossy)
    result = fuzz.run_case(SEED, case, work=work)
    assert "fresh:table:daily" in fuzz.discrepancies(result)


def _refused(message: str) -> Any:
    return fuzz.Outcome(False, error=("ValidationError", message))


@pytest.mark.parametrize(
    ("damages", "known"), [(["dmg:bad_number", "dmg:saturday"], True), (["dmg:nan"], False)]
)
def test_only_two_damages_excuse_different_errors(damages: list[str], known: bool, work: Path) -> None:
    """Two refusals naming different errors are the known difference only if the file has two damages."""
    case = fuzz.generate(SEED, 0, work)
    case.tags = ["nav_so", *damages]
    diffs = ["err_msg"]
    result = fuzz.CaseResult(case, {"fresh": (_refused("row 2"), _refused("row 9"), diffs)}, [], 0.0)
    assert bool(fuzz.known_differences(result)) is known
    assert bool(fuzz.discrepancies(result)) is not known
    changed = _refused("row 9")
    changed.unchanged = False  # a refused file that changed the warehouse is never excused
    result.phases["fresh"] = (_refused("row 2"), changed, ["err_msg", "str_changed_on_refusal"])
    assert fuzz.discrepancies(result)


def test_dates_in_two_formats_excuse_different_not_a_date_rows(work: Path) -> None:
    """One damage (US-style dates among ISO ones): two refusals that both say "not a date" are the known
    difference (each path names the first date its chosen format cannot read); any other pair is not."""
    case = fuzz.generate(SEED, 0, work)
    case.tags = ["nav_so", "dmg:us_date_all"]

    def refused(kind: str, message: str) -> Any:
        return fuzz.Outcome(False, error=(kind, message))

    date_a = refused("ParseError", "file f, row 2, field 'Date': not a date: '2021-03-22'")
    date_b = refused("ParseError", "file f, row 19, field 'Date': not a date: '03/25/2021'")
    number = refused("ParseError", "file f, row 19, field 'NAV': not a number: 'x'")
    known = fuzz.CaseResult(case, {"fresh": (date_a, date_b, ["err_msg"])}, [], 0.0)
    assert fuzz.known_differences(known) and not fuzz.discrepancies(known)
    other = fuzz.CaseResult(case, {"fresh": (date_a, number, ["err_msg"])}, [], 0.0)
    assert fuzz.discrepancies(other)
