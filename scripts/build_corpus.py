#!/usr/bin/env python
"""The bad-input corpus: broken and hostile variants of the real files in ../shared/data, run through the CLI.

Every case is one file derived from a real sample (trimmed, then damaged in one way) and the outcome
etfflow must give: a located error (exit 1, the message names the file and the row and/or field) with
the warehouse unchanged, a counted drop (the bad rows dropped and counted, nothing else changed), an
acceptance that changes no stored value (unsorted rows, identical repeats), or, for hostile names, an
acceptance whose output prints the name literally. Each case runs `etfflow import` (or `import-flows`)
in-process on its own copy of one seeded warehouse and compares `Store.snapshot()` before and after.

    python scripts/build_corpus.py                   # run every case, print the summary table
    python scripts/build_corpus.py --readme README.md  # ... and write the table into the README

tests/test_corpus.py runs the same cases under pytest (one test per case).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import gzip
import json
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

SCALE = "scale: a newer file never replaces a stored value with NULL"
FILES = "files: bounded N-PORT data-set zips (size and ratio limits, member names)"
VENDOR = "vendor: long/wide and xlsx vendor flow files"
CHINA = "china: China exchange and Wind files"

HOSTILE_TICKERS = {
    "formula": "=1+1",
    "sql": "X'); DROP TABLE daily;--",
    "script": "<script>",
    "markup": "[/bold]",
}
HOSTILE_NAME = "[/bold] <script>alert(1)</script> =1+1 X'); DROP TABLE daily;--"


@dataclasses.dataclass(frozen=True)
class Expect:
    """The outcome a case must have.

    kind: ``error`` (refused: exit `code`, message names the file and every needle, nothing written),
    ``drop`` (accepted: the printed drop counts equal `drops`, no stored value changed), ``same``
    (accepted, nothing dropped, no stored value changed), ``kept`` (accepted, no stored value changed,
    whatever is reported) or ``store`` (accepted; `needles` must be printed literally).
    """

    kind: str
    needles: tuple[str, ...] = ()
    drops: Mapping[str, int] = dataclasses.field(default_factory=dict)
    code: int = 1
    names_file: bool = True


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input: how to build it from the bases, how to import it, what must happen."""

    name: str
    importer: str
    defect: str
    build: Callable[[Bases, Path], Path]
    expect: Expect
    command: str = "import"
    args: tuple[str, ...] = ()
    xfail: str | None = None
    after: tuple[tuple[str, ...], ...] = ()


def error(*needles: str, code: int = 1, names_file: bool = True) -> Expect:
    return Expect("error", needles, code=code, names_file=names_file)


def drop(**drops: int) -> Expect:
    return Expect("drop", drops=drops)


SAME = Expect("same")
#: accepted and no stored value changed; drop counts not judged (how kept values are reported is open)
KEPT = Expect("kept")


# --- the bases: trimmed real files the seeded warehouse holds --------------------------------------


@dataclasses.dataclass(frozen=True)
class Bases:
    """Paths of the trimmed real files (the seed) and their text where cases edit text."""

    dir: Path
    workbook: Path
    shares_csv: Path
    gld_csv: Path
    generic_csv: Path
    generic_parquet: Path
    generic_xlsx: Path
    nport_xml: Path
    nport_zip: Path
    ncen: Path
    ids_csv: Path
    ids_json: Path
    vendor_csv: Path
    cn_szse: Path
    cn_shares: Path

    def text(self, path: Path) -> str:
        return path.read_text(encoding="utf-8")

    def importable(self) -> list[Path]:
        return [
            self.workbook,
            self.shares_csv,
            self.gld_csv,
            self.generic_csv,
            self.generic_parquet,
            self.generic_xlsx,
            self.nport_xml,
            self.nport_zip,
            self.ncen,
            self.ids_csv,
            self.ids_json,
            self.cn_szse,
            self.cn_shares,
        ]


_ROW = re.compile(r"<ss:Row>.*?</ss:Row>\n?", re.S)


def _sheet_span(text: str, name: str) -> tuple[int, int]:
    start = text.index(f'<ss:Worksheet ss:Name="{name}">')
    return start, text.index("</ss:Worksheet>", start)


def _trim_sheet(text: str, name: str, keep: int) -> str:
    """Keep the first `keep` rows of a worksheet of an XML Spreadsheet 2003 file."""
    start, end = _sheet_span(text, name)
    rows = list(_ROW.finditer(text, start, end))
    if len(rows) <= keep:
        return text
    cut_from, cut_to = rows[keep].start(), rows[-1].end()
    return text[:cut_from] + text[cut_to:]


def workbook_rows(text: str) -> tuple[str, list[str], str]:
    """(text before the first data row, the Historical data rows, text after them)."""
    start, end = _sheet_span(text, "Historical")
    rows = list(_ROW.finditer(text, start, end))
    return text[: rows[1].start()], [m.group(0) for m in rows[1:]], text[rows[-1].end() :]


def workbook_cells(row: str) -> list[str]:
    return re.findall(r'<ss:Data ss:Type="\w+">(.*?)</ss:Data>', row, re.S)


def set_workbook_cell(row: str, j: int, value: str, kind: str = "String") -> str:
    """Row text with cell j (0 date, 1 NAV, 2 ex-dividends, 3 shares) set to `value`."""
    parts = re.split(r'(<ss:Data ss:Type="\w+">.*?</ss:Data>)', row, flags=re.S)
    cells = [i for i, p in enumerate(parts) if p.startswith("<ss:Data")]
    parts[cells[j]] = f'<ss:Data ss:Type="{kind}">{value}</ss:Data>'
    return "".join(parts)


def _csv_lines(path: Path, first: int, last: int, keep: Callable[[str], bool] = lambda _l: True) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [lines[0]] + [ln for ln in lines[first:last] if keep(ln)]


def _gld_frame(shared: Path, first: int, n: int) -> pl.DataFrame:
    """GLD archive rows as a generic panel (real values; shares = total net assets / NAV per share)."""
    lines = (shared / "issuers/ssga/GLD_US_archive_EN.csv").read_text(encoding="utf-8").splitlines()
    rows = [ln.split(",") for ln in lines[first:] if "HOLIDAY" not in ln and "Closed" not in ln][:n]
    out = pl.DataFrame(
        {
            "Date": [dt.datetime.strptime(r[0].strip(), "%d-%b-%Y").date() for r in rows],
            "Ticker": ["GLD"] * len(rows),
            "Close": [float(r[1]) for r in rows],
            "NAV": [float(r[3]) for r in rows],
            "Total Net Assets": [float(r[10]) for r in rows],
            "Volume": [float(r[7]) for r in rows],
        }
    )
    return out.with_columns((pl.col("Total Net Assets") / pl.col("NAV")).round(0).alias("Shares Outstanding"))


XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Export" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    """A minimal Excel workbook (one sheet, inline strings), the OOXML published format."""

    def cell(j: int, i: int, v: object) -> str:
        ref = f"{'ABCDEFGHIJ'[j]}{i}"
        if isinstance(v, int | float):
            return f'<c r="{ref}"><v>{v}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{_xml_escape(str(v))}</t></is></c>'

    body = "".join(
        f'<row r="{i}">' + "".join(cell(j, i, v) for j, v in enumerate(r) if v != "") + "</row>"
        for i, r in enumerate(rows, start=1)
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{body}</sheetData></worksheet>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, part in XLSX_PARTS.items():
            z.writestr(name, part)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


XLSX_TITLE: list[list[object]] = [["GLD daily panel (from the SPDR Gold archive)", ""], ["", ""]]


def xlsx_rows(frame: pl.DataFrame) -> list[list[object]]:
    rows: list[list[object]] = [*XLSX_TITLE, [*frame.columns]]
    for r in frame.iter_rows():
        rows.append([v.isoformat() if isinstance(v, dt.date) else v for v in r])
    return rows


DATASET_COLUMNS = {
    "SUBMISSION.tsv": ("ACCESSION_NUMBER", "FILING_DATE", "SUB_TYPE", "REPORT_ENDING_PERIOD", "REPORT_DATE"),
    "REGISTRANT.tsv": ("ACCESSION_NUMBER", "CIK", "REGISTRANT_NAME"),
}
FLOW_COLUMNS = tuple(f"{k}_FLOW_MON{i}" for i in (1, 2, 3) for k in ("SALES", "REINVESTMENT", "REDEMPTION"))


def dataset_tables(shared: Path) -> dict[str, list[list[str]]]:
    """An N-PORT data set (SUBMISSION, REGISTRANT, FUND_REPORTED_INFO) holding the Dupree filing's values."""
    from etfflow.sources.sec_nport import parse_nport

    f = parse_nport((shared / "sec/nport/samples/NPORT.Dupree.xml").read_bytes())
    acc = "0000311101-24-000001"
    info_header = ["ACCESSION_NUMBER", "SERIES_ID", "SERIES_NAME", "NET_ASSETS", *FLOW_COLUMNS]
    flows = ["" if v is None else repr(v) for m in f.flows for v in (m.sales, m.reinvestment, m.redemption)]
    return {
        "SUBMISSION.tsv": [
            list(DATASET_COLUMNS["SUBMISSION.tsv"]),
            [
                acc,
                (f.report_date + dt.timedelta(days=60)).strftime("%d-%b-%Y").upper(),
                "NPORT-P",
                f.report_date.strftime("%d-%b-%Y").upper(),
                f.report_date.strftime("%d-%b-%Y").upper(),
            ],
        ],
        "REGISTRANT.tsv": [list(DATASET_COLUMNS["REGISTRANT.tsv"]), [acc, "311101", "Dupree Mutual Funds"]],
        "FUND_REPORTED_INFO.tsv": [
            info_header,
            [
                acc,
                f.series_id or "",
                f.series_name or "",
                "" if f.net_assets is None else repr(f.net_assets),
                *flows,
            ],
        ],
    }


def write_dataset(path: Path, tables: Mapping[str, list[list[str]]], sep: str = "\t") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, rows in tables.items():
            z.writestr(name, "\n".join(sep.join(r) for r in rows) + "\n")
    return path


def build_bases(shared: Path, out: Path) -> Bases:
    """Trim the real files into the seed set (no row of a base is dropped on import)."""
    out.mkdir(parents=True, exist_ok=True)
    wb = (shared / "issuers/ishares/IVV_fund.xls").read_text(encoding="utf-8")
    wb = _trim_sheet(_trim_sheet(wb, "Historical", 61), "Holdings", 40)
    (out / "IVV_fund.xls").write_text(wb, encoding="utf-8")
    shares = _csv_lines(shared / "issuers/ishares/EWJ_EWY_EWZ_shares_history.csv", 1, 91)
    (out / "ishares_shares.csv").write_text("\n".join(shares) + "\n", encoding="utf-8")
    gld = _csv_lines(
        shared / "issuers/ssga/GLD_US_archive_EN.csv",
        150,
        260,
        lambda ln: "HOLIDAY" not in ln and "Closed" not in ln,
    )
    (out / "GLD_US_archive_EN.csv").write_text("\n".join(gld) + "\n", encoding="utf-8")
    panel = _gld_frame(shared, 400, 60)
    panel.write_csv(out / "panel.csv", date_format="%Y-%m-%d")
    panel.write_parquet(out / "panel.parquet")
    write_xlsx(out / "panel.xlsx", xlsx_rows(_gld_frame(shared, 600, 30)))
    shutil.copy(shared / "sec/nport/samples/N-PORT Sample 1.xml", out / "nport.xml")
    write_dataset(out / "nport_dataset.zip", dataset_tables(shared))
    shutil.copy(shared / "sec/ncen/0001410368-26-010918.txt", out / "ncen.txt")
    ids = _csv_lines(shared / "sec/ids/ishares_fund_data.csv", 40, 60)
    (out / "fund_ids.csv").write_text("\n".join(ids) + "\n", encoding="utf-8")
    mf = json.loads((shared / "sec/ids/company_tickers_mf_2025-09.json").read_text(encoding="utf-8"))
    small = {"fields": mf["fields"], "data": [r for r in mf["data"] if str(r[3]).isalnum()][:40]}
    (out / "company_tickers_mf.json").write_text(json.dumps(small), encoding="utf-8")
    with gzip.open(shared / "vendor/etfcom/etfcom_daily_flows_641_long.csv.gz", "rt", encoding="utf-8") as fh:
        picked = [
            ln.rstrip("\n").split(",")
            for ln in fh
            if ln.startswith(("IVV,2022-0", "GLD,2022-0")) and ln[4:11] in ("2022-02", "2022-03")
        ]
    vendor = ["Date,Ticker,Net Flows ($mm)"] + [f"{d},{t},{v}" for t, d, v in picked]
    (out / "vendor_flows.csv").write_text("\n".join(vendor) + "\n", encoding="utf-8")
    szse = _csv_lines(shared / "cn/daily_shares/szse_etf_share_4etf_2023_2026.csv", 1, 31)
    (out / "szse_etf_share.csv").write_text("\n".join(szse) + "\n", encoding="utf-8")
    cn_lines = (shared / "cn/daily_shares/etf-shares.csv").read_text(encoding="utf-8-sig").splitlines()
    cn = [cn_lines[0], *[ln for ln in cn_lines[1:] if ",510300," in ln][:30]]
    (out / "etf-shares.csv").write_text("\n".join(cn) + "\n", encoding="utf-8")
    return Bases(
        dir=out,
        workbook=out / "IVV_fund.xls",
        shares_csv=out / "ishares_shares.csv",
        gld_csv=out / "GLD_US_archive_EN.csv",
        generic_csv=out / "panel.csv",
        generic_parquet=out / "panel.parquet",
        generic_xlsx=out / "panel.xlsx",
        nport_xml=out / "nport.xml",
        nport_zip=out / "nport_dataset.zip",
        ncen=out / "ncen.txt",
        ids_csv=out / "fund_ids.csv",
        ids_json=out / "company_tickers_mf.json",
        vendor_csv=out / "vendor_flows.csv",
        cn_szse=out / "szse_etf_share.csv",
        cn_shares=out / "etf-shares.csv",
    )


def seed(bases: Bases, db: Path) -> None:
    """The seeded warehouse every case starts from: every base imported."""
    from etfflow.pipeline import import_paths, import_vendor_flows
    from etfflow.store import Store

    with Store(db) as store:
        import_paths(store, bases.importable())
        import_vendor_flows(store, bases.vendor_csv, source="etf.com")


# --- case builders --------------------------------------------------------------------------------


def _out(out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    return out / name


def text_case(base: str, edit: Callable[[str], str], suffix: str = "") -> Callable[[Bases, Path], Path]:
    """A case file: the base's text edited by `edit` (written as UTF-8)."""

    def build(b: Bases, out: Path) -> Path:
        src: Path = getattr(b, base)
        p = _out(out, src.stem + suffix + src.suffix)
        p.write_text(edit(b.text(src)), encoding="utf-8")
        return p

    return build


def bytes_case(
    base: str, edit: Callable[[bytes], bytes], name: str | None = None
) -> Callable[[Bases, Path], Path]:
    def build(b: Bases, out: Path) -> Path:
        src: Path = getattr(b, base)
        p = _out(out, name or src.name)
        p.write_bytes(edit(src.read_bytes()))
        return p

    return build


def lines_case(base: str, edit: Callable[[list[str]], list[str]]) -> Callable[[Bases, Path], Path]:
    """A CSV case: the base's lines (header first) edited by `edit`."""
    return text_case(base, lambda t: "\n".join(edit(t.splitlines())) + "\n")


def set_csv(line_no: int, col: int, value: str) -> Callable[[list[str]], list[str]]:
    """Set column `col` of file line `line_no` (1-based; 1 is the header)."""

    def edit(lines: list[str]) -> list[str]:
        out = list(lines)
        cells = out[line_no - 1].split(",")
        cells[col] = value
        out[line_no - 1] = ",".join(cells)
        return out

    return edit


def insert_line(at: int, line: Callable[[list[str]], str]) -> Callable[[list[str]], list[str]]:
    """Insert a line so that it becomes file line `at`."""

    def edit(lines: list[str]) -> list[str]:
        return [*lines[: at - 1], line(lines), *lines[at - 1 :]]

    return edit


def wb_edit(edit: Callable[[list[str]], list[str]]) -> Callable[[Bases, Path], Path]:
    """A workbook case: the Historical data rows (newest first; row i is sheet row i + 2) edited."""

    def whole(text: str) -> str:
        head, rows, tail = workbook_rows(text)
        return head + "".join(edit(rows)) + tail

    return text_case("workbook", whole)


def wb_cell(i: int, j: int, value: str, kind: str = "String") -> Callable[[Bases, Path], Path]:
    def edit(rows: list[str]) -> list[str]:
        out = list(rows)
        out[i] = set_workbook_cell(out[i], j, value, kind)
        return out

    return wb_edit(edit)


def wb_all(j: int, value: Callable[[str], str], kind: str = "Number") -> Callable[[Bases, Path], Path]:
    def edit(rows: list[str]) -> list[str]:
        return [set_workbook_cell(r, j, value(workbook_cells(r)[j]), kind) for r in rows]

    return wb_edit(edit)


def frame_case(
    base: str, edit: Callable[[pl.DataFrame], pl.DataFrame], kind: str
) -> Callable[[Bases, Path], Path]:
    """A Parquet or xlsx case: the base panel edited as a frame."""

    def build(b: Bases, out: Path) -> Path:
        src: Path = getattr(b, base)
        if kind == "parquet":
            frame = pl.read_parquet(src)
            p = _out(out, "panel.parquet")
            edit(frame).write_parquet(p)
            return p
        from python_calamine import CalamineWorkbook

        rows = CalamineWorkbook.from_path(str(src)).get_sheet_by_index(0).to_python()
        header: list[object] = [str(c) for c in rows[2]]
        frame = pl.DataFrame([list(r) for r in rows[3:]], schema=[str(h) for h in header], orient="row")
        return write_xlsx(
            _out(out, "panel.xlsx"), [*XLSX_TITLE, header, *[list(r) for r in edit(frame).rows()]]
        )

    return build


def set_value(row: int, col: str, value: object) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def edit(frame: pl.DataFrame) -> pl.DataFrame:
        s = frame[col]
        if isinstance(value, str) and s.dtype != pl.String:
            s = s.cast(pl.String)
        values = s.to_list()
        values[row] = value
        return frame.with_columns(pl.Series(col, values, dtype=s.dtype))

    return edit


def nport_edit(pattern: str, repl: str) -> Callable[[Bases, Path], Path]:
    def edit(text: str) -> str:
        new, n = re.subn(pattern, repl, text)
        assert n >= 1, pattern
        return new

    return text_case("nport_xml", edit)


def ncen_edit(pattern: str, repl: str) -> Callable[[Bases, Path], Path]:
    def edit(text: str) -> str:
        new, n = re.subn(pattern, repl, text, count=1)
        assert n == 1, pattern
        return new

    return text_case("ncen", edit)


def dataset_case(
    edit: Callable[[dict[str, list[list[str]]]], Mapping[str, list[list[str]]]], sep: str = "\t"
) -> Callable[[Bases, Path], Path]:
    def build(b: Bases, out: Path) -> Path:
        tables = dataset_tables(SHARED_FOR_BUILD[0])
        return write_dataset(_out(out, "nport_dataset.zip"), edit(tables), sep)

    return build


def dataset_cell(table: str, col: str, value: str) -> Callable[[Bases, Path], Path]:
    def edit(tables: dict[str, list[list[str]]]) -> Mapping[str, list[list[str]]]:
        rows = tables[table]
        j = rows[0].index(col)
        rows[1][j] = value
        return tables

    return dataset_case(edit)


def raw_zip(members: Mapping[str, bytes], name: str = "nport_dataset.zip") -> Callable[[Bases, Path], Path]:
    def build(b: Bases, out: Path) -> Path:
        p = _out(out, name)
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
            for member, data in members.items():
                z.writestr(member, data)
        return p

    return build


def dataset_members(prefix: str) -> Callable[[Bases, Path], Path]:
    def build(b: Bases, out: Path) -> Path:
        tables = dataset_tables(SHARED_FOR_BUILD[0])
        p = _out(out, "nport_dataset.zip")
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
            for member, rows in tables.items():
                z.writestr(prefix + member, "\n".join("\t".join(r) for r in rows) + "\n")
        return p

    return build


def zip_bomb(member: str, size: int) -> Callable[[Bases, Path], Path]:
    """The data set with `member` replaced by `size` bytes of one repeated character (about 1000:1)."""

    def build(b: Bases, out: Path) -> Path:
        tables = dataset_tables(SHARED_FOR_BUILD[0])
        p = _out(out, "nport_dataset.zip")
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
            for name, rows in tables.items():
                text = "\n".join("\t".join(r) for r in rows) + "\n"
                if name == member:
                    text = "\t".join(rows[0]) + "\n" + "0" * size
                z.writestr(name, text)
            if member not in tables:
                z.writestr(member, "0" * size)
        return p

    return build


SHARED_FOR_BUILD: list[Path] = [SHARED]

BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10))
    + "]>"
)
XXE = '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


def after_decl(doctype: str) -> Callable[[str], str]:
    """Insert a DOCTYPE after the XML declaration of the first XML document in the text."""
    return lambda t: re.sub(r"(<\?xml[^>]*\?>)", lambda m: m.group(1) + doctype, t, count=1)


def drop_shares_header(text: str) -> str:
    """The workbook with its Historical header cell "Shares Outstanding" renamed "Shares"."""
    head, rows, tail = workbook_rows(text)
    at = head.rindex(">Shares Outstanding<")
    return head[:at] + ">Shares<" + head[at + len(">Shares Outstanding<") :] + "".join(rows) + tail


def cut_block(text: str) -> str:
    """The text with 2,000 characters missing from the middle of the first ETF entry."""
    i = text.index("<exchangeTradedFund>") + 500
    return text[:i] + text[i + 2000 :]


def vendor_wide(text: str) -> str:
    """The vendor base pivoted to one column per fund (Date,GLD,IVV), values unchanged ($mm)."""
    rows = [ln.split(",") for ln in text.splitlines()[1:]]
    by_date: dict[str, dict[str, str]] = {}
    for d, t, v in rows:
        by_date.setdefault(d, {})[t] = v
    funds = sorted({t for _d, t, _v in rows})
    body = [",".join([d, *(by_date[d].get(t, "") for t in funds)]) for d in sorted(by_date)]
    return "\n".join([",".join(["Date", *funds]), *body]) + "\n"


def _long(n: int = 1_000_000) -> str:
    return "A" * n


def cases() -> list[Case]:
    """Every case of the corpus."""
    c: list[Case] = []

    def add(
        name: str,
        importer: str,
        defect: str,
        build: Callable[[Bases, Path], Path],
        expect: Expect,
        **kw: object,
    ) -> None:
        c.append(Case(f"{importer}-{name}", importer, defect, build, expect, **kw))  # type: ignore[arg-type]

    # iShares fund workbook (XML Spreadsheet 2003): Historical row i is sheet row i + 2
    W = "ishares_workbook"
    nav, shares, date = "field 'NAV per Share'", "field 'Shares Outstanding'", "field 'As Of'"
    add("nav-text", W, "text in a number", wb_cell(3, 1, "abc"), error("row 5", nav, "not a number"))
    add("nav-inf", W, "inf", wb_cell(3, 1, "inf"), error("row 5", nav))
    add("nav-1e308", W, "huge number", wb_cell(4, 1, "1e308", "Number"), error("row 6", nav, "implausible"))
    add("nav-nan", W, "NaN", wb_cell(4, 1, "NaN"), KEPT)
    add(
        "shares-negative",
        W,
        "negative shares",
        wb_cell(2, 3, "-50000", "Number"),
        error("row 4", shares, "negative"),
    )
    add(
        "shares-1e14",
        W,
        "huge number",
        wb_cell(2, 3, "1e14", "Number"),
        error("row 4", shares, "implausible"),
    )
    add("date-text", W, "bad date", wb_cell(5, 0, "May 32, 2022"), error("row 7", date, "not a date"))
    add("date-1900", W, "date out of range", wb_cell(5, 0, "Jan 02, 1900"), drop(non_session_rows=1))
    add("date-weekend", W, "weekend date", wb_cell(0, 0, "May 14, 2022"), drop(non_session_rows=1))
    add("date-future", W, "future date", wb_cell(0, 0, "Jan 04, 2030"), drop(future_rows=1))
    add(
        "duplicate-conflict",
        W,
        "duplicate date, other value",
        wb_edit(lambda r: [r[0], set_workbook_cell(r[0], 3, "1", "Number"), *r[1:]]),
        error("row 3", shares, "again"),
    )
    add("duplicate-same", W, "duplicate row", wb_edit(lambda r: [r[0], *r]), drop(duplicate_rows=1))
    add("unsorted", W, "unsorted rows", wb_edit(lambda r: list(reversed(r))), SAME)
    add(
        "swapped-nav-shares",
        W,
        "swapped columns",
        wb_edit(
            lambda rows: [
                set_workbook_cell(
                    set_workbook_cell(r, 1, workbook_cells(r)[3], "Number"), 3, workbook_cells(r)[1], "Number"
                )
                for r in rows
            ]
        ),
        error("row 2", nav, "implausible"),
    )
    add("shares-all-zero", W, "swapped/zero column", wb_all(3, lambda _v: "0"), error(shares, "is 0"))
    add(
        "shares-scaled",
        W,
        "mis-scaled column",
        wb_all(3, lambda v: repr(float(v) / 1e5)),
        error("field 'shares_outstanding'", "factor"),
    )
    add(
        "truncated-mid-row",
        W,
        "truncated",
        text_case(
            "workbook",
            lambda t: t[: workbook_rows(t)[0].__len__() + workbook_rows(t)[1][0].__len__() * 3 + 400],
        ),
        KEPT,
    )
    add(
        "truncated-early",
        W,
        "truncated",
        text_case("workbook", lambda t: t[: t.index('<ss:Worksheet ss:Name="Historical">')]),
        error("Historical"),
    )
    add("empty", W, "empty file", text_case("workbook", lambda _t: ""), error("unrecognised format"))
    add(
        "bad-char-reference",
        W,
        "malformed XML",
        wb_cell(3, 1, "&#99999999;"),
        error("row 5", nav, "not a number"),
    )
    add(
        "missing-column",
        W,
        "missing column",
        text_case(
            "workbook",
            drop_shares_header,
        ),
        error(shares, "missing required column"),
    )
    add("long-cell", W, "long line", wb_cell(3, 1, _long()), error("row 5", nav, "1,000,000 characters"))
    add(
        "doctype-entities",
        W,
        "hostile XML (billion laughs)",
        text_case("workbook", after_decl(BILLION_LAUGHS)),
        SAME,
    )
    add(
        "ticker-hostile",
        W,
        "hostile ticker",
        lambda b, out: b.workbook,
        error("field 'ticker'"),
        args=("--ticker", HOSTILE_TICKERS["sql"]),
    )
    add("binary", W, "binary renamed", bytes_case("workbook", lambda _d: PNG), error("unrecognised format"))
    add(
        "utf16",
        W,
        "wrong encoding",
        bytes_case("workbook", lambda d: d.decode("utf-8").encode("utf-16")),
        error("unrecognised format"),
    )

    # iShares shares-history CSV: date,ticker,shares_outstanding,nav (data line n is file line n)
    S = "ishares_shares_csv"
    add(
        "shares-text",
        S,
        "text in a number",
        lines_case("shares_csv", set_csv(5, 2, "abc")),
        error("row 5", "field 'shares_outstanding'"),
    )
    add("shares-nan", S, "NaN", lines_case("shares_csv", set_csv(5, 2, "NaN")), KEPT)
    add(
        "shares-inf",
        S,
        "inf",
        lines_case("shares_csv", set_csv(6, 2, "inf")),
        error("row 6", "field 'shares_outstanding'"),
    )
    add(
        "shares-1e308",
        S,
        "huge number",
        lines_case("shares_csv", set_csv(7, 2, "1e308")),
        error("row 7", "implausible"),
    )
    add(
        "shares-negative",
        S,
        "negative shares",
        lines_case("shares_csv", set_csv(8, 2, "-100")),
        error("row 8", "negative"),
    )
    add(
        "nav-huge",
        S,
        "huge number",
        lines_case("shares_csv", set_csv(9, 3, "1e7")),
        error("row 9", "field 'nav'", "implausible"),
    )
    for key, t in HOSTILE_TICKERS.items():
        add(
            f"ticker-{key}",
            S,
            "hostile ticker",
            lines_case("shares_csv", set_csv(10, 1, t)),
            error("row 10", "field 'ticker'", "not a ticker"),
        )
    add(
        "duplicate-same",
        S,
        "duplicate row",
        lines_case("shares_csv", insert_line(3, lambda ls: ls[1])),
        drop(duplicate_rows=1),
    )
    add(
        "duplicate-conflict",
        S,
        "duplicate date, other value",
        lines_case("shares_csv", insert_line(3, lambda ls: ls[1].rsplit(",", 2)[0] + ",1,")),
        error("row 3", "again"),
    )
    add(
        "date-weekend",
        S,
        "weekend date",
        lines_case("shares_csv", insert_line(2, lambda _l: "2025-07-05,EWJ,204000000,")),
        drop(non_session_rows=1),
    )
    add(
        "date-1900",
        S,
        "date out of range",
        lines_case("shares_csv", insert_line(2, lambda _l: "1900-01-02,EWJ,204000000,")),
        drop(non_session_rows=1),
    )
    add(
        "date-future",
        S,
        "future date",
        lines_case("shares_csv", insert_line(2, lambda _l: "2030-01-04,EWJ,204000000,")),
        drop(future_rows=1),
    )
    add("unsorted", S, "unsorted rows", lines_case("shares_csv", lambda ls: [ls[0], *reversed(ls[1:])]), SAME)
    add(
        "repeated-header",
        S,
        "repeated header",
        lines_case("shares_csv", insert_line(12, lambda ls: ls[0])),
        error("row 12", "field 'date'", "not a date"),
    )
    add(
        "long-cell",
        S,
        "long line",
        lines_case("shares_csv", set_csv(4, 1, _long())),
        error("row 4", "1,000,000 characters"),
    )
    add(
        "semicolons",
        S,
        "wrong delimiter",
        text_case("shares_csv", lambda t: t.replace(",", ";")),
        error("unrecognised format"),
    )
    add(
        "utf16",
        S,
        "wrong encoding",
        bytes_case("shares_csv", lambda d: d.decode().encode("utf-16")),
        error("unrecognised format"),
    )
    add("empty", S, "empty file", text_case("shares_csv", lambda _t: ""), error("unrecognised format"))
    add("header-only", S, "no rows", text_case("shares_csv", lambda t: t.splitlines()[0] + "\n"), SAME)
    add("ragged-row", S, "extra field", lines_case("shares_csv", set_csv(6, 3, "1,2")), error("CSV"))
    add(
        "truncated-number",
        S,
        "truncated",
        text_case(
            "shares_csv",
            lambda t: (
                t.rstrip("\n").rsplit("\n", 1)[0]
                + "\n"
                + ",".join(t.rstrip("\n").rsplit("\n", 1)[1].split(",")[:2])
                + ",17"
            ),
        ),
        error("field 'shares_outstanding'", "factor"),
    )
    add(
        "swapped-date-ticker",
        S,
        "swapped columns",
        lines_case(
            "shares_csv",
            lambda ls: (
                [ls[0]]
                + [",".join([ln.split(",")[1], ln.split(",")[0], *ln.split(",")[2:]]) for ln in ls[1:]]
            ),
        ),
        error("row 2", "field 'date'", "not a date"),
    )
    add(
        "crlf-bom",
        S,
        "BOM and CRLF",
        text_case("shares_csv", lambda t: "\ufeff" + t.replace("\n", "\r\n")),
        SAME,
    )
    add(
        "lowercase-tickers",
        S,
        "lower-case tickers",
        text_case("shares_csv", lambda t: t.replace("EWJ", "ewj")),
        SAME,
    )
    add(
        "extra-column",
        S,
        "extra column (read as a generic panel, the column ignored)",
        lines_case("shares_csv", lambda ls: [ls[0] + ",x"] + [ln + ",1" for ln in ls[1:]]),
        Expect("store", ("ignored column(s): ['x']",)),
    )

    # SPDR Gold (GLD) archive CSV: data line n is file line n
    G = "ssga_gld_csv"

    def gld_swap(a: int, b: int) -> Callable[[list[str]], list[str]]:
        def edit(ls: list[str]) -> list[str]:
            out = [ls[0]]
            for ln in ls[1:]:
                cells = ln.split(",")
                cells[a], cells[b] = cells[b], cells[a]
                out.append(",".join(cells))
            return out

        return edit

    add(
        "swapped-nav-tna",
        G,
        "swapped columns",
        lines_case("gld_csv", gld_swap(3, 10)),
        error("row 2", "field 'NAV/share at 10.30 a.m. NYT'", "implausible"),
    )
    add(
        "swapped-close-volume",
        G,
        "swapped columns",
        lines_case("gld_csv", gld_swap(1, 7)),
        error("row 2", "field 'GLD Close'", "implausible"),
    )
    add(
        "tna-1e308",
        G,
        "huge number",
        lines_case("gld_csv", set_csv(5, 10, " 1e308")),
        error("row 5", "implausible"),
    )
    add(
        "nav-inf",
        G,
        "inf",
        lines_case("gld_csv", set_csv(5, 3, " inf")),
        error("row 5", "field 'NAV/share at 10.30 a.m. NYT'"),
    )
    add(
        "tna-all-zero",
        G,
        "zero column",
        lines_case(
            "gld_csv", lambda ls: [ls[0]] + [",".join([*ln.split(",")[:10], " 0.00"]) for ln in ls[1:]]
        ),
        error("is 0"),
    )
    add(
        "ragged-row",
        G,
        "missing field",
        lines_case("gld_csv", lambda ls: [*ls[:6], ls[6].rsplit(",", 1)[0], *ls[7:]]),
        error("row 7", "fields"),
    )
    add("empty", G, "empty file", text_case("gld_csv", lambda _t: ""), error("unrecognised format"))
    add("header-only", G, "no rows", text_case("gld_csv", lambda t: t.splitlines()[0] + "\n"), SAME)
    add(
        "date-weekend",
        G,
        "weekend date",
        lines_case("gld_csv", insert_line(2, lambda ls: "04-Jun-2005," + ls[1].split(",", 1)[1])),
        drop(non_session_rows=1),
    )
    add(
        "date-1900",
        G,
        "date out of range",
        lines_case("gld_csv", insert_line(2, lambda ls: "02-Jan-1900," + ls[1].split(",", 1)[1])),
        drop(non_session_rows=1),
    )
    add(
        "close-awaited",
        G,
        "missing value",
        lines_case("gld_csv", set_csv(4, 1, " AWAITED")),
        KEPT,
    )
    add(
        "volume-text",
        G,
        "text in a number",
        lines_case("gld_csv", set_csv(4, 7, " lots")),
        error("row 4", "field 'Daily Share Volume'"),
    )
    add(
        "volume-negative",
        G,
        "negative number",
        lines_case("gld_csv", set_csv(4, 7, " -5")),
        error("row 4", "negative"),
    )
    add(
        "repeated-header",
        G,
        "repeated header",
        lines_case("gld_csv", insert_line(9, lambda ls: ls[0])),
        error("row 9", "field 'Date'", "not a date"),
    )
    add(
        "iso-dates",
        G,
        "other date format",
        lines_case("gld_csv", set_csv(3, 0, "2005-06-02")),
        error("row 3", "field 'Date'", "not a date"),
    )
    add(
        "long-cell",
        G,
        "long line",
        lines_case("gld_csv", set_csv(3, 1, _long())),
        error("row 3", "1,000,000 characters"),
    )
    add(
        "holiday-row",
        G,
        "holiday row",
        lines_case("gld_csv", insert_line(2, lambda ls: "04-Jul-2005" + ", HOLIDAY" * 10)),
        drop(holiday_rows=1),
    )

    # generic CSV panel (Date,Ticker,Close,NAV,Total Net Assets,Volume,Shares Outstanding)
    C = "generic_csv"
    gc = "generic_csv"
    add(  # a real holdings list: a fund ticker and a date on every row, no value the warehouse keeps
        "holdings-list",
        C,
        "no value column",
        lambda b, out: SHARED_FOR_BUILD[0] / "issuers/holdings/Invesco_QQQ_holdings_20230113.csv",
        error("row 1", "no value column"),
    )
    add(
        "semicolons",
        C,
        "wrong delimiter",
        text_case(gc, lambda t: t.replace(",", ";")),
        error("unrecognised format"),
    )
    add(
        "tabs",
        C,
        "wrong delimiter",
        text_case(gc, lambda t: t.replace(",", "\t")),
        error("unrecognised format"),
    )
    add(
        "dotted-dates",
        C,
        "other date format",
        lines_case(
            gc, lambda ls: [ls[0]] + [re.sub(r"^(\d{4})-(\d\d)-(\d\d)", r"\3.\2.\1", ln) for ln in ls[1:]]
        ),
        error("row 2", "field 'Date'", "not a date"),
    )
    add(
        "swapped-nav-shares",
        C,
        "swapped columns",
        text_case(
            gc,
            lambda t: (
                t.replace("NAV", "@@")
                .replace("Shares Outstanding", "NAV")
                .replace("@@", "Shares Outstanding", 1)
            ),
        ),
        error("row 2", "field 'NAV'", "implausible"),
    )
    add(
        "shares-scaled",
        C,
        "mis-scaled column",
        lines_case(
            gc,
            lambda ls: (
                [ls[0]]
                + [",".join([*ln.split(",")[:6], repr(float(ln.split(",")[6]) / 1e5)]) for ln in ls[1:]]
            ),
        ),
        error("field 'shares_outstanding'", "factor"),
    )
    add(
        "nav-text",
        C,
        "text in a number",
        lines_case(gc, set_csv(4, 3, "abc")),
        error("row 4", "field 'NAV'", "not a number"),
    )
    add("nav-nan", C, "NaN", lines_case(gc, set_csv(4, 3, "NaN")), KEPT)
    add("nav-inf", C, "inf", lines_case(gc, set_csv(4, 3, "-inf")), error("row 4", "field 'NAV'"))
    add(
        "tna-1e308",
        C,
        "huge number",
        lines_case(gc, set_csv(5, 4, "1e308")),
        error("row 5", "field 'Total Net Assets'", "implausible"),
    )
    add(
        "shares-negative",
        C,
        "negative shares",
        lines_case(gc, set_csv(5, 6, "-1")),
        error("row 5", "field 'Shares Outstanding'", "negative"),
    )
    add(
        "volume-1e14",
        C,
        "huge number",
        lines_case(gc, set_csv(6, 5, "1e14")),
        error("row 6", "field 'Volume'", "implausible"),
    )
    add(
        "close-2e6",
        C,
        "huge number",
        lines_case(gc, set_csv(6, 2, "2000000")),
        error("row 6", "field 'Close'", "implausible"),
    )
    add(
        "duplicate-same",
        C,
        "duplicate row",
        lines_case(gc, insert_line(3, lambda ls: ls[1])),
        drop(duplicate_rows=1),
    )
    add(
        "duplicate-conflict",
        C,
        "duplicate date, other value",
        lines_case(gc, insert_line(3, lambda ls: ls[1].rsplit(",", 1)[0] + ",1")),
        error("row 3", "again"),
    )
    add("unsorted", C, "unsorted rows", lines_case(gc, lambda ls: [ls[0], *reversed(ls[1:])]), SAME)
    add(
        "repeated-header",
        C,
        "repeated header",
        lines_case(gc, insert_line(10, lambda ls: ls[0])),
        error("row 10", "field 'Date'", "not a date"),
    )
    add(
        "long-cell",
        C,
        "long line",
        lines_case(gc, set_csv(4, 1, _long())),
        error("row 4", "field 'Ticker'", "1,000,000 characters"),
    )
    for key, t in HOSTILE_TICKERS.items():
        add(
            f"ticker-{key}",
            C,
            "hostile ticker",
            lines_case(gc, set_csv(7, 1, t)),
            error("row 7", "field 'Ticker'", "not a ticker"),
        )
    add(
        "formula-in-number",
        C,
        "formula in a number",
        lines_case(gc, set_csv(7, 5, "=1+1")),
        error("row 7", "field 'Volume'", "not a number"),
    )
    add(
        "no-ticker-column",
        C,
        "missing column",
        lines_case(gc, lambda ls: [",".join(x for i, x in enumerate(ln.split(",")) if i != 1) for ln in ls]),
        error("field 'ticker'", "missing required column"),
    )
    add(
        "latin1",
        C,
        "wrong encoding",
        bytes_case(gc, lambda d: d.replace(b"GLD", "GLDÉ".encode("latin-1"))),
        error("row 2", "field 'Ticker'", "not a ticker"),
    )
    add(
        "utf16",
        C,
        "wrong encoding",
        bytes_case(gc, lambda d: d.decode().encode("utf-16")),
        error("unrecognised format"),
    )
    add("empty", C, "empty file", text_case(gc, lambda _t: ""), error("unrecognised format"))
    add("header-only", C, "no rows", text_case(gc, lambda t: t.splitlines()[0] + "\n"), SAME)
    add(
        "date-1900",
        C,
        "date out of range",
        lines_case(gc, insert_line(2, lambda ls: "1900-01-02" + ls[1][10:])),
        drop(non_session_rows=1),
    )
    add(
        "date-weekend",
        C,
        "weekend date",
        lines_case(gc, insert_line(2, lambda ls: "2006-07-01" + ls[1][10:])),
        drop(non_session_rows=1),
    )
    add(
        "date-future",
        C,
        "future date",
        lines_case(gc, insert_line(2, lambda ls: "2031-01-03" + ls[1][10:])),
        drop(future_rows=1),
    )
    add(
        "split-zero",
        C,
        "implausible split",
        lines_case(
            gc,
            lambda ls: (
                [ls[0] + ",Split Factor"]
                + [ln + ("," if i != 3 else ",0") for i, ln in enumerate(ls[1:], start=2)]
            ),
        ),
        error("row 3", "field 'Split Factor'", "implausible"),
    )
    add("ragged-row", C, "extra field", lines_case(gc, set_csv(8, 6, "1,2")), error("CSV"))
    add(
        "gzip-renamed",
        C,
        "gzip-compressed, named .csv (read by its magic bytes)",
        bytes_case(gc, gzip.compress, "panel.csv"),
        SAME,
    )
    add(
        "png-renamed",
        C,
        "binary renamed",
        bytes_case(gc, lambda _d: PNG, "panel.csv"),
        error("unrecognised format"),
    )

    # generic Parquet panel (row n is the n-th record)
    P = "generic_parquet"
    add(
        "nav-inf",
        P,
        "inf",
        frame_case("generic_parquet", set_value(3, "NAV", float("inf")), "parquet"),
        error("row 4", "field 'NAV'"),
    )
    add(
        "nav-nan",
        P,
        "NaN",
        frame_case("generic_parquet", set_value(3, "NAV", float("nan")), "parquet"),
        KEPT,
    )
    add(
        "tna-1e308",
        P,
        "huge number",
        frame_case("generic_parquet", set_value(4, "Total Net Assets", 1e308), "parquet"),
        error("row 5", "implausible"),
    )
    add(
        "shares-negative",
        P,
        "negative shares",
        frame_case("generic_parquet", set_value(4, "Shares Outstanding", -5.0), "parquet"),
        error("row 5", "negative"),
    )
    add(
        "ticker-sql",
        P,
        "hostile ticker",
        frame_case("generic_parquet", set_value(2, "Ticker", HOSTILE_TICKERS["sql"]), "parquet"),
        error("row 3", "field 'Ticker'", "not a ticker"),
    )
    add(
        "nav-text",
        P,
        "text in a number",
        frame_case("generic_parquet", set_value(2, "NAV", "abc"), "parquet"),
        error("row 3", "field 'NAV'", "not a number"),
    )
    add(
        "shares-all-zero",
        P,
        "zero column",
        frame_case(
            "generic_parquet", lambda f: f.with_columns(pl.lit(0.0).alias("Shares Outstanding")), "parquet"
        ),
        error("is 0"),
    )
    add(
        "date-1900",
        P,
        "date out of range",
        frame_case("generic_parquet", set_value(0, "Date", dt.date(1900, 1, 2)), "parquet"),
        drop(non_session_rows=1),
    )
    add(
        "truncated",
        P,
        "truncated",
        bytes_case("generic_parquet", lambda d: d[: len(d) // 2]),
        error("Parquet"),
    )
    add(  # 64 zero bytes in a data page, footer intact: the page decodes to garbage, caught by the
        # check against the stored values (a page that fails to decompress is refused by the reader)
        "page-damaged",
        P,
        "damaged data page",
        bytes_case("generic_parquet", lambda d: d[: len(d) // 3] + bytes(64) + d[len(d) // 3 + 64 :]),
        error("field 'nav'", "truncated or mis-scaled"),
    )

    # generic xlsx panel: the header is sheet row 3, record n is sheet row n + 3
    X = "generic_xlsx"
    add(
        "nav-text",
        X,
        "text in a number",
        frame_case("generic_xlsx", set_value(2, "NAV", "abc"), "xlsx"),
        error("row 6", "field 'NAV'", "not a number"),
    )
    add(
        "nav-inf",
        X,
        "inf",
        frame_case("generic_xlsx", set_value(2, "NAV", "inf"), "xlsx"),
        error("row 6", "field 'NAV'"),
    )
    add(
        "tna-1e308",
        X,
        "huge number",
        frame_case("generic_xlsx", set_value(3, "Total Net Assets", 1e308), "xlsx"),
        error("row 7", "implausible"),
    )
    add(
        "ticker-formula",
        X,
        "hostile ticker",
        frame_case("generic_xlsx", set_value(1, "Ticker", HOSTILE_TICKERS["formula"]), "xlsx"),
        error("row 5", "field 'Ticker'", "not a ticker"),
    )
    add("truncated", X, "truncated", bytes_case("generic_xlsx", lambda d: d[: len(d) - 200]), error("Excel"))
    add(
        "date-weekend",
        X,
        "weekend date",
        frame_case(
            "generic_xlsx",
            lambda f: pl.concat([f.head(1).with_columns(pl.lit("2007-01-06").alias("Date")), f]),
            "xlsx",
        ),
        drop(non_session_rows=1),
    )

    # N-PORT XML (SEC's sample 1)
    N = "sec_nport_xml"
    add(
        "truncated",
        N,
        "truncated",
        text_case("nport_xml", lambda t: t[: len(t) // 2]),
        error("malformed XML"),
    )
    add(
        "billion-laughs",
        N,
        "hostile XML (billion laughs)",
        text_case("nport_xml", after_decl(BILLION_LAUGHS)),
        error("DOCTYPE"),
    )
    add(
        "external-entity",
        N,
        "hostile XML (external entity)",
        text_case("nport_xml", lambda t: after_decl(XXE)(t).replace("<seriesId>", "<seriesId>&xxe;", 1)),
        error("DOCTYPE"),
    )
    add(
        "sales-nan",
        N,
        "NaN",
        nport_edit(r'sales="[^"]*"', 'sales="NaN"'),
        error("field 'mon1Flow/@sales'", "implausible"),
    )
    add(
        "sales-inf",
        N,
        "inf",
        nport_edit(r'sales="[^"]*"', 'sales="inf"'),
        error("field 'mon1Flow/@sales'", "implausible"),
    )
    add(
        "sales-1e308",
        N,
        "huge number",
        nport_edit(r'sales="[^"]*"', 'sales="1e308"'),
        error("field 'mon1Flow/@sales'", "implausible"),
    )
    add(
        "sales-text",
        N,
        "text in a number",
        nport_edit(r'sales="[^"]*"', 'sales="lots"'),
        error("field 'mon1Flow/@sales'", "not a number"),
    )
    add(
        "series-sql",
        N,
        "hostile series id",
        nport_edit(r"<seriesId>[^<]*</seriesId>", "<seriesId>X'); DROP TABLE daily;--</seriesId>"),
        error("field 'series_id'", "malformed"),
    )
    add(
        "report-date-1900",
        N,
        "date out of range",
        nport_edit(r"<repPdDate>[^<]*</repPdDate>", "<repPdDate>1900-01-31</repPdDate>"),
        error("out of range"),
    )
    add(
        "net-assets-huge",
        N,
        "huge number",
        nport_edit(r"<netAssets>[^<]*</netAssets>", "<netAssets>-1e30</netAssets>"),
        error("field 'netAssets'", "implausible"),
    )
    add(
        "cik-text",
        N,
        "malformed id",
        nport_edit(r"<regCik>[^<]*</regCik>", "<regCik>12AB</regCik>"),
        error("cik"),
    )
    add("empty", N, "empty file", text_case("nport_xml", lambda _t: ""), error("unrecognised format"))
    add("binary", N, "binary renamed", bytes_case("nport_xml", lambda _d: PNG), error("unrecognised format"))
    add(
        "not-nport",
        N,
        "wrong document",
        text_case("nport_xml", lambda t: re.sub(r"<formData>.*</formData>", "<formData/>", t, flags=re.S)),
        error("not an N-PORT document"),
    )

    # N-PORT data-set zip (SUBMISSION, REGISTRANT, FUND_REPORTED_INFO; row 2 is the first record)
    D = "sec_nport_dataset"
    info = "FUND_REPORTED_INFO.tsv"
    add("truncated", D, "truncated", bytes_case("nport_zip", lambda d: d[: len(d) // 2]), error("zip"))
    add(
        "missing-member",
        D,
        "missing table",
        dataset_case(lambda t: {k: v for k, v in t.items() if k != info}),
        error(info),
    )
    add(
        "sales-nan",
        D,
        "NaN",
        dataset_cell(info, "SALES_FLOW_MON1", "NaN"),
        error("row 2", "field 'SALES_FLOW_MON1'", "implausible"),
    )
    add(
        "sales-1e308",
        D,
        "huge number",
        dataset_cell(info, "SALES_FLOW_MON2", "1e308"),
        error("row 2", "field 'SALES_FLOW_MON2'", "implausible"),
    )
    add(
        "sales-text",
        D,
        "text in a number",
        dataset_cell(info, "SALES_FLOW_MON3", "abc"),
        error("row 2", "field 'SALES_FLOW_MON3'", "not a number"),
    )
    add(
        "series-hostile",
        D,
        "hostile series id",
        dataset_cell(info, "SERIES_ID", "<script>"),
        error("field 'series_id'", "malformed"),
    )
    add(
        "report-date-1900",
        D,
        "date out of range",
        dataset_cell("SUBMISSION.tsv", "REPORT_DATE", "31-JAN-1900"),
        error("out of range"),
    )
    add("commas", D, "wrong delimiter", dataset_case(lambda t: t, sep=","), error("row 1", "missing column"))
    add(
        "ragged-row",
        D,
        "extra field",
        dataset_case(lambda t: {**t, info: [t[info][0], t[info][1] + ["x"]]}),
        error("row 2", "fields"),
    )
    add(
        "bomb-unread-member",
        D,
        "zip bomb in a member never read (bounded: nothing to refuse)",
        zip_bomb("FUND_REPORTED_HOLDING.tsv", 20_000_000),
        SAME,
    )
    add(
        "bomb-long-line",
        D,
        "zip bomb",
        zip_bomb("SUBMISSION.tsv", 5_000_000),
        error("SUBMISSION.tsv"),
    )
    add("path-traversal", D, "zip path traversal", dataset_members("../../"), error("zip"))
    add(
        "absolute-member",
        D,
        "zip path traversal",
        dataset_members("/tmp/etfflow-corpus/"),
        error("zip"),
    )

    # N-CEN submission (AB Active ETFs: 22 ETF series)
    E = "sec_ncen"
    tick = r'fundsTickerSymbol="CAM"'
    add(
        "ticker-formula",
        E,
        "hostile ticker",
        ncen_edit(tick, 'fundsTickerSymbol="=1+1"'),
        error("row 10834", "field 'fundsTickerSymbol'", "not a ticker"),
    )
    add(
        "ticker-sql",
        E,
        "hostile ticker",
        ncen_edit(tick, 'fundsTickerSymbol="X\'); DROP TABLE daily;--"'),
        error("field 'fundsTickerSymbol'", "not a ticker"),
    )
    add(
        "ticker-script",
        E,
        "hostile ticker",
        ncen_edit(tick, 'fundsTickerSymbol="&lt;script&gt;"'),
        error("field 'fundsTickerSymbol'", "not a ticker"),
    )
    add(
        "series-hostile",
        E,
        "hostile series id",
        ncen_edit(r"<etfSeriesId>S000093944</etfSeriesId>", "<etfSeriesId>[/bold]</etfSeriesId>"),
        error("field 'etfSeriesId'", "malformed"),
    )
    add(
        "unit-negative",
        E,
        "negative shares",
        ncen_edit(r"<creationUnitNumOfShares>[^<]*<", "<creationUnitNumOfShares>-50000<"),
        error("field 'creationUnitNumOfShares'", "implausible"),
    )
    add(
        "unit-nan",
        E,
        "NaN",
        ncen_edit(r"<creationUnitNumOfShares>[^<]*<", "<creationUnitNumOfShares>NaN<"),
        error("field 'creationUnitNumOfShares'", "implausible"),
    )
    add(
        "unit-1e308",
        E,
        "huge number",
        ncen_edit(r"<creationUnitNumOfShares>[^<]*<", "<creationUnitNumOfShares>1e308<"),
        error("field 'creationUnitNumOfShares'", "implausible"),
    )
    add(
        "ap-value-inf",
        E,
        "inf",
        ncen_edit(r'authorizedParticipantPurchaseValue="[^"]*"', 'authorizedParticipantPurchaseValue="inf"'),
        error("field 'authorizedParticipantPurchaseValue'", "implausible"),
    )
    add(
        "block-missing",
        E,
        "truncated (a block missing)",
        text_case("ncen", cut_block),
        error("malformed XML"),
    )
    add(
        "billion-laughs",
        E,
        "hostile XML (billion laughs)",
        text_case("ncen", lambda t: t.replace("<edgarSubmission", BILLION_LAUGHS + "<edgarSubmission", 1)),
        error("DOCTYPE"),
    )
    add(
        "name-control-char",
        E,
        "control character",
        ncen_edit(r"<fundName>AB California Intermediate Municipal ETF<", "<fundName>AB &#27;[31mETF<"),
        error("malformed XML"),
    )
    add(
        "empty-submission",
        E,
        "no XML document",
        text_case("ncen", lambda t: t[: t.index("<DOCUMENT>")]),
        error("N-CEN"),
    )

    def hostile_name(t: str) -> str:
        t = t.replace(tick, 'fundsTickerSymbol="IVV"', 1)
        t = t.replace(
            "<registrantFullName>AB Active ETFs, Inc.<",
            f"<registrantFullName>{_xml_escape(HOSTILE_NAME)}<",
            1,
        )
        return t.replace(
            "<fundName>AB California Intermediate Municipal ETF</fundName>",
            "<fundName>" + _xml_escape(HOSTILE_NAME) + "</fundName>",
            1,
        )

    add(
        "name-hostile",
        E,
        "hostile fund and registrant names",
        text_case("ncen", hostile_name),
        Expect("store", (HOSTILE_NAME,)),
        after=(
            ("report", "--as-of", "2022-05-11", "--window", "20", "--json", "--out", "{dir}/report.json"),
        ),
    )

    # SEC id maps (CSV in edgartools' fund_data format; company_tickers_mf.json)
    IDS = "sec_fund_ids"

    def ids_row(
        ticker: str, series: str = "S000004310", cls: str = "C000012040", cik: str = "0001100663"
    ) -> Callable[[list[str]], list[str]]:
        return lambda ls: [
            *ls,
            f"{cik},{series},Hostile Fund,{cls},Hostile Fund,{ticker},"
            "0001193125-22-000001,497,Fund Prospectus,2022-03-25",
        ]

    for key, t in HOSTILE_TICKERS.items():
        add(
            f"csv-ticker-{key}",
            IDS,
            "hostile ticker",
            lines_case("ids_csv", ids_row(t.replace(",", ""))),
            drop(malformed_identifiers=1),
        )
    add(
        "csv-series-bad",
        IDS,
        "malformed id",
        lines_case("ids_csv", ids_row("IVV", series="S12")),
        drop(malformed_identifiers=1),
    )
    add(
        "csv-class-bad",
        IDS,
        "malformed id",
        lines_case("ids_csv", ids_row("IVV", cls="C1")),
        drop(malformed_identifiers=1),
    )
    add(
        "csv-cik-bad",
        IDS,
        "malformed id",
        lines_case("ids_csv", ids_row("IVV", cik="12AB")),
        error("row 22", "field 'CIK'", "not a CIK"),
    )

    def mf(edit: Callable[[dict[str, Any]], object]) -> Callable[[Bases, Path], Path]:
        return text_case("ids_json", lambda t: json.dumps(edit(json.loads(t))))

    add(
        "json-parenthesised",
        IDS,
        "malformed ticker (as SEC publishes)",
        mf(lambda d: {**d, "data": [*d["data"], [1048702, "S000064917", "C000210162", "(NWAKX)"]]}),
        Expect("store", ()),  # read as NWAKX, as SEC's real maps spell four tickers (sec_ids._ticker)
    )
    add(
        "json-long-symbol",
        IDS,
        "long line",
        mf(lambda d: {**d, "data": [*d["data"], [1048702, "S000064917", "C000210162", _long(100_000)]]}),
        drop(malformed_identifiers=1),
    )
    add(
        "json-truncated",
        IDS,
        "truncated",
        text_case("ids_json", lambda t: t[: len(t) // 2]),
        error("company_tickers_mf.json"),
    )
    add(
        "json-no-fields",
        IDS,
        "wrong structure",
        mf(lambda d: {"fields": ["cik", "seriesId"], "data": d["data"]}),
        error("company_tickers_mf.json"),
    )

    # vendor flows (import-flows): Date,Ticker,Net Flows ($mm); data line n is file line n
    V = "vendor_flows"
    vf = ("--source", "etf.com")

    def v(name: str, defect: str, build: Callable[[Bases, Path], Path], expect: Expect, **kw: object) -> None:
        args = kw.pop("args", vf)
        add(name, V, defect, build, expect, command="import-flows", args=args, **kw)

    v(
        "date-weekend",
        "weekend date",
        lines_case("vendor_csv", insert_line(2, lambda _l: "2022-02-05,IVV,10.0")),
        drop(non_session_rows=1),
    )
    v(
        "date-1900",
        "date out of range",
        lines_case("vendor_csv", insert_line(2, lambda _l: "1900-01-02,IVV,10.0")),
        drop(non_session_rows=1),
    )
    v(
        "date-future",
        "future date",
        lines_case("vendor_csv", insert_line(2, lambda _l: "2030-01-04,IVV,10.0")),
        drop(future_rows=1),
    )
    for key, t in HOSTILE_TICKERS.items():
        v(
            f"ticker-{key}",
            "hostile ticker",
            lines_case("vendor_csv", set_csv(4, 1, t)),
            error("row 4", "field 'Ticker'", "malformed ticker"),
        )
    v(
        "flow-nan",
        "NaN",
        lines_case("vendor_csv", set_csv(5, 2, "NaN")),
        drop(missing_flow=1),
    )
    v("flow-empty", "missing value", lines_case("vendor_csv", set_csv(5, 2, "")), drop(missing_flow=1))
    v(
        "flow-inf",
        "inf",
        lines_case("vendor_csv", set_csv(5, 2, "inf")),
        error("row 5", "field 'Net Flows ($mm)'"),
    )
    v(
        "flow-overflow",
        "overflow after unit scaling",
        lines_case("vendor_csv", set_csv(5, 2, "1e308")),
        error("row 5", "field 'Net Flows ($mm)'", "implausible"),
    )
    v(
        "flow-huge",
        "huge number",
        lines_case("vendor_csv", set_csv(6, 2, "1e12")),
        error("row 6", "implausible"),
    )
    v(
        "flow-text",
        "text in a number",
        lines_case("vendor_csv", set_csv(6, 2, "lots")),
        error("row 6", "not a number"),
    )
    v(
        "duplicate-conflict",
        "duplicate date, other value",
        lines_case("vendor_csv", insert_line(3, lambda ls: ls[1].rsplit(",", 1)[0] + ",123.0")),
        error("row 3", "different flow"),
    )
    v(
        "duplicate-same",
        "duplicate row",
        lines_case("vendor_csv", insert_line(3, lambda ls: ls[1])),
        drop(duplicate_rows=1),
    )
    v("unsorted", "unsorted rows", lines_case("vendor_csv", lambda ls: [ls[0], *reversed(ls[1:])]), SAME)
    v("empty", "empty file", text_case("vendor_csv", lambda _t: ""), error("CSV"))
    v("header-only", "no rows", text_case("vendor_csv", lambda t: t.splitlines()[0] + "\n"), SAME)
    v(
        "semicolons",
        "wrong delimiter",
        text_case("vendor_csv", lambda t: t.replace(",", ";")),
        error("row 1", "no date column"),
    )
    v(
        "long-cell",
        "long line",
        lines_case("vendor_csv", set_csv(4, 2, _long(100_000))),
        error("row 4", "100,000 characters"),
    )
    v(
        "source-hostile",
        "hostile source name",
        lambda b, out: b.vendor_csv,
        error("field 'source'", "vendor source name"),
        args=("--source", "=1+1"),
    )
    v(
        "wide-format",
        "wide layout",
        text_case("vendor_csv", vendor_wide),
        SAME,
    )
    v(
        "etfcom-xlsx",
        "vendor xlsx",
        lambda b, out: SHARED_FOR_BUILD[0] / "vendor/etfcom/xlsx_samples/GLD_fund_flow_data.xlsx",
        Expect("store", ()),
        args=("--source", "etf.com", "--ticker", "GLD"),
    )

    # China exchange daily shares: SZSE (date,code,name,shares_wan,share_change_wan) and the CSI 300
    # ETF file (date,code,shares_100m,...); data line n is file line n
    K = "cn_szse_shares"
    add(
        "shares-text",
        K,
        "text in a number",
        lines_case("cn_szse", set_csv(5, 3, "lots")),
        error("row 5", "not a number"),
    )
    add("shares-nan", K, "NaN", lines_case("cn_szse", set_csv(5, 3, "NaN")), KEPT)
    add(
        "shares-1e308",
        K,
        "huge number",
        lines_case("cn_szse", set_csv(6, 3, "1e308")),
        error("row 6", "implausible"),
    )
    add(
        "shares-negative",
        K,
        "negative shares",
        lines_case("cn_szse", set_csv(6, 3, "-5")),
        error("row 6", "negative"),
    )
    for key, t in HOSTILE_TICKERS.items():
        add(f"code-{key}", K, "hostile ticker", lines_case("cn_szse", set_csv(7, 1, t)), error("row 7"))
    add(
        "date-weekend",
        K,
        "weekend date",
        lines_case("cn_szse", insert_line(2, lambda ls: "2023-01-07" + ls[1][10:])),
        drop(non_session_rows=1),
    )
    add(
        "duplicate-same",
        K,
        "duplicate row",
        lines_case("cn_szse", insert_line(3, lambda ls: ls[1])),
        drop(duplicate_rows=1),
    )
    add("unsorted", K, "unsorted rows", lines_case("cn_szse", lambda ls: [ls[0], *reversed(ls[1:])]), SAME)
    add("empty", K, "empty file", text_case("cn_szse", lambda _t: ""), error("unrecognised format"))
    K2 = "cn_exchange_shares"
    add(
        "shares-text",
        K2,
        "text in a number",
        lines_case("cn_shares", set_csv(4, 2, "abc")),
        error("row 4", "not a number"),
    )
    add("shares-inf", K2, "inf", lines_case("cn_shares", set_csv(4, 2, "inf")), error("row 4"))
    add(
        "shares-1e308",
        K2,
        "huge number (overflows after unit scaling)",
        lines_case("cn_shares", set_csv(5, 2, "1e307")),
        error("row 5", "implausible"),
    )
    add(
        "code-sql",
        K2,
        "hostile ticker",
        lines_case("cn_shares", set_csv(6, 1, HOSTILE_TICKERS["sql"])),
        error("row 6"),
    )
    add(
        "date-1900",
        K2,
        "date out of range",
        lines_case("cn_shares", insert_line(2, lambda ls: "1900-01-03" + ls[1][10:])),
        drop(non_session_rows=1),
    )
    return c


# --- running a case ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    """What one case did."""

    code: int
    output: str
    traceback: bool
    changed: list[str]
    files_added: int
    drops: dict[str, int]
    failures: list[str]


def _values(db: Path) -> dict[str, pl.DataFrame]:
    from etfflow.store import Store

    with Store(db, read_only=True) as store:
        return store.snapshot()


def _drops(output: str) -> dict[str, int]:
    found = re.findall(r"^\s+dropped ([\d,]+) rows: (.+)$", output, re.M)
    return {why.strip().replace(" ", "_"): int(n.replace(",", "")) for n, why in found}


def run_case(
    case: Case, bases: Bases, seed_db: Path, seed_snapshot: Mapping[str, pl.DataFrame], work: Path
) -> Outcome:
    """Run a case on a copy of the seeded warehouse and judge its outcome against `case.expect`."""
    from typer.testing import CliRunner

    from etfflow.cli import app

    folder = work / case.name
    folder.mkdir(parents=True, exist_ok=True)
    path = case.build(bases, folder)
    db = folder / "w.duckdb"
    shutil.copy(seed_db, db)
    runner = CliRunner()
    res = runner.invoke(app, [case.command, str(path), "--db", str(db), *case.args])
    output = res.output
    tb = "Traceback (most recent call last)" in output or (
        res.exception is not None and not isinstance(res.exception, SystemExit)
    )
    after = _values(db)
    changed = [t for t in seed_snapshot if t != "files" and not seed_snapshot[t].equals(after[t])]
    files_added = after["files"].height - seed_snapshot["files"].height
    out = Outcome(res.exit_code, output, tb, changed, files_added, _drops(output), [])
    exp = case.expect
    fail = out.failures
    if tb:
        fail.append("a Python traceback reached the user")
    if exp.kind == "error":
        if res.exit_code != exp.code:
            fail.append(f"exit code {res.exit_code}, expected {exp.code}")
        if exp.names_file and path.name not in output:
            fail.append(f"the message does not name the file {path.name}")
        fail += [f"the message lacks {n!r}" for n in exp.needles if n not in output]
        if changed or files_added:
            fail.append(f"the warehouse changed: {changed or 'files'}")
    else:
        if res.exit_code != 0:
            fail.append(f"exit code {res.exit_code}, expected 0")
        if exp.kind in ("drop", "same", "kept") and changed:
            fail.append(f"stored values changed in {changed}")
        if exp.kind == "drop" and out.drops != dict(exp.drops):
            fail.append(f"dropped {out.drops}, expected {dict(exp.drops)}")
        if exp.kind == "same" and out.drops:
            fail.append(f"dropped {out.drops}, expected nothing dropped")
        shown = output
        for args in case.after:
            more = runner.invoke(app, [*(a.replace("{dir}", str(folder)) for a in args), "--db", str(db)])
            shown += more.output
            if more.exit_code != 0 or (
                more.exception is not None and not isinstance(more.exception, SystemExit)
            ):
                fail.append(f"`etfflow {' '.join(args)}` failed after the import: {more.output[-300:]}")
        flat = re.sub(r"\s+", " ", shown)
        fail += [f"the output lacks {n!r} printed literally" for n in exp.needles if n not in flat]
    return out


@contextlib.contextmanager
def corpus(
    shared: Path = SHARED, work: Path | None = None
) -> Iterator[tuple[list[Case], Bases, Path, dict[str, pl.DataFrame], Path]]:
    """Build the bases and the seeded warehouse in a temporary folder; yields what `run_case` needs."""
    SHARED_FOR_BUILD[0] = shared
    with tempfile.TemporaryDirectory(prefix="etfflow-corpus-") as tmp:
        root = Path(work) if work is not None else Path(tmp)
        bases = build_bases(shared, root / "bases")
        seed_db = root / "seed.duckdb"
        seed(bases, seed_db)
        yield cases(), bases, seed_db, _values(seed_db), root / "cases"


# --- the summary table --------------------------------------------------------------------------------


def location(output: str) -> int:
    """3: the message names a row and a field; 2: one of them; 1: only the file."""
    row = re.search(r"\brow \d+", output) is not None
    field = "field '" in output
    return 1 + row + field


def summarise(results: list[tuple[Case, Outcome]]) -> str:
    """The README table: cases per importer and outcome, tracebacks and changed warehouses."""
    importers = list(dict.fromkeys(c.importer for c, _ in results))
    columns = [
        "importer",
        "cases",
        "located errors (file, row and field / file and row or field / file only)",
        "counted drops",
        "accepted, nothing changed",
        "accepted as intended (hostile names printed literally)",
        "pending (xfail)",
        "unexpected outcome",
        "tracebacks",
        "warehouse changed (refused files)",
    ]
    head = "| " + " | ".join(columns) + " |"
    lines = [head, "|---|" + "---:|" * (len(columns) - 1)]

    def row(label: str, rs: list[tuple[Case, Outcome]]) -> str:
        ok = [(c, o) for c, o in rs if not o.failures]

        def count(kind: str) -> int:
            return sum(1 for c, _ in ok if c.expect.kind == kind)

        levels = [location(o.output) for c, o in ok if c.expect.kind == "error"]
        located = f"{len(levels)} ({levels.count(3)} / {levels.count(2)} / {levels.count(1)})"
        pending = sum(1 for c, o in rs if o.failures and c.xfail)
        failed = sum(1 for c, o in rs if o.failures and not c.xfail)
        tracebacks = sum(1 for _, o in rs if o.traceback)
        changed = sum(
            1 for c, o in rs if c.expect.kind == "error" and o.code != 0 and (o.changed or o.files_added)
        )
        cells = [
            label,
            len(rs),
            located,
            count("drop"),
            count("same") + count("kept"),
            count("store"),
            pending,
            failed,
        ]
        return "| " + " | ".join(str(x) for x in [*cells, tracebacks, changed]) + " |"

    for imp in importers:
        lines.append(row(f"`{imp}`", [(c, o) for c, o in results if c.importer == imp]))
    lines.append(row("**all**", results))
    return "\n".join(lines)


START, END = "<!-- corpus-table:start -->", "<!-- corpus-table:end -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder")
    parser.add_argument("--readme", type=Path, help="write the table between the corpus-table markers")
    parser.add_argument("--show", action="store_true", help="print every case's outcome")
    args = parser.parse_args(argv)
    results: list[tuple[Case, Outcome]] = []
    with corpus(args.shared) as (all_cases, bases, seed_db, snap, work):
        for case in all_cases:
            out = run_case(case, bases, seed_db, snap, work)
            results.append((case, out))
            if args.show or (out.failures and not case.xfail):
                state = (
                    "ok"
                    if not out.failures
                    else ("PENDING " if case.xfail else "FAIL ") + "; ".join(out.failures)
                )
                sys.stderr.write(f"{case.name}: {state}\n")
                if out.failures and not case.xfail:
                    sys.stderr.write("   " + out.output.strip().replace("\n", "\n   ")[:600] + "\n")
    table = summarise(results)
    sys.stdout.write(table + "\n")
    if args.readme:
        text = args.readme.read_text(encoding="utf-8")
        if START not in text or END not in text:
            sys.stderr.write(f"{args.readme} has no {START} ... {END} markers\n")
            return 2
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        args.readme.write_text(f"{before}{START}\n{table}\n{END}{after}", encoding="utf-8")
    return 1 if any(o.failures and not c.xfail for c, o in results) else 0


if __name__ == "__main__":
    sys.exit(main())
