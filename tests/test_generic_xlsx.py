"""Generic Excel (.xlsx) daily panels: a small workbook written to the published OOXML format by hand."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest

from etfflow.errors import ParseError
from etfflow.sources.detect import detect_format, read_file

_CT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WB = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Flows" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WB_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)


def _cell(col: str, row: int, value: object) -> str:
    ref = f"{col}{row}"
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    cells = "".join(
        f'<row r="{i}">' + "".join(_cell("ABCDEFG"[j], i, v) for j, v in enumerate(r) if v != "") + "</row>"
        for i, r in enumerate(rows, start=1)
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{cells}</sheetData></worksheet>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WB)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


ROWS: list[list[object]] = [
    ["My fund export", ""],
    ["", ""],
    ["Date", "Symbol", "Shares Outstanding", "NAV"],
    ["2024-01-02", "abc", 1_000_000, 10.5],
    ["2024-01-03", "abc", 1_050_000, 10.25],
]


def test_xlsx_panel_detected_by_content_and_read(tmp_path: Path) -> None:
    f = write_xlsx(tmp_path / "export.dat", ROWS)  # misleading name: content decides
    assert detect_format(f) == "generic_xlsx"
    batch = read_file(f, so_lag=1)
    d = batch.daily
    assert d["date"].to_list() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    assert d["ticker"].to_list() == ["ABC", "ABC"]
    assert d["shares_outstanding"].to_list() == [1_000_000.0, 1_050_000.0]
    assert d["nav"].to_list() == [10.5, 10.25]
    assert d["so_lag"].to_list() == [1, 1]
    assert set(d["source"]) == {"xlsx"}


def test_xlsx_bad_cell_names_the_sheet_row(tmp_path: Path) -> None:
    rows = [*ROWS, ["2024-01-04", "abc", "lots", 10.0]]
    f = write_xlsx(tmp_path / "bad.xlsx", rows)
    with pytest.raises(ParseError) as exc:
        read_file(f)
    assert exc.value.row == 6  # the row Excel shows
    assert exc.value.field == "Shares Outstanding"


def test_xlsx_without_date_header(tmp_path: Path) -> None:
    f = write_xlsx(tmp_path / "nodate.xlsx", [["Fund", "Shares"], ["ABC", 1]])
    with pytest.raises(ParseError, match="no header row naming a date column"):
        read_file(f)
