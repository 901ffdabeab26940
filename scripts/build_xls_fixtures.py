"""Write tests/fixtures/ishares_synthetic.xml (SYNTHETIC values, iShares workbook layout) and its binary
copy ishares_synthetic_excel97.xls, converted by LibreOffice as Excel's "Save as .xls" would.

Usage: python scripts/build_xls_fixtures.py   (needs `soffice`: apt-get install libreoffice-calc)

The real iShares download (../shared/data/issuers/ishares/IVV_fund.xls) may not be redistributed, so
the committed fixtures carry made-up numbers for a made-up fund (XMPL) in the same layout: sheets
Holdings (title rows, "Fund Holdings as of", "Shares Outstanding") and Historical (As Of, NAV per
Share, Ex-Dividends, Shares Outstanding; newest first, "--" for none). LibreOffice stores the numeric
texts as numbers, as Excel does after opening the download. Tests also convert the real IVV file at
run time when `soffice` is on PATH (tests/test_files_formats.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"

#: (As Of, NAV per Share, Ex-Dividends, Shares Outstanding), newest first; SYNTHETIC
HISTORICAL = [
    ("Jun 21, 2024", "50.120000", "--", "1,250,000.00"),
    ("Jun 20, 2024", "49.800000", "--", "1,200,000.00"),
    ("Jun 18, 2024", "50.020000", "0.310000", "1,150,000.00"),
    ("Jun 17, 2024", "49.650000", "--", "1,150,000.00"),
    ("Jun 14, 2024", "49.300000", "--", "1,100,000.00"),
]


def _row(*cells: str) -> str:
    body = "".join(f'<ss:Cell><ss:Data ss:Type="String">{c}</ss:Data></ss:Cell>' for c in cells)
    return f"<ss:Row>{body}</ss:Row>\n"


def workbook() -> str:
    """The synthetic workbook as XML Spreadsheet 2003 text (well-formed, unlike the real download)."""
    holdings = (
        _row("21-Jun-2024")
        + _row("Example Core ETF (SYNTHETIC) (XMPL)")
        + _row("Fund Holdings as of", "Jun 21, 2024")
        + _row("Shares Outstanding", "1,250,000.00")
        + _row("Ticker", "Name", "Weight (%)")
        + _row("AAA", "Synthetic Holding A", "60.00")
        + _row("BBB", "Synthetic Holding B", "40.00")
    )
    historical = _row("As Of", "NAV per Share", "Ex-Dividends", "Shares Outstanding") + "".join(
        _row(*r) for r in HISTORICAL
    )
    sheets = "".join(
        f'<ss:Worksheet ss:Name="{name}"><ss:Table>\n{rows}</ss:Table></ss:Worksheet>\n'
        for name, rows in (
            ("Disclaimers", _row("SYNTHETIC test workbook in the iShares layout; values are made up.")),
            ("Holdings", holdings),
            ("Historical", historical),
        )
    )
    return (
        '<?xml version="1.0"?>\n<ss:Workbook xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">\n'
        f"<!-- layout of iShares / BlackRock fund workbooks; SYNTHETIC values -->\n{sheets}</ss:Workbook>\n"
    )


def convert(xml: Path, out_dir: Path) -> Path:
    """Excel 97 (BIFF8) copy of an XML Spreadsheet 2003 file, written by LibreOffice."""
    soffice = shutil.which("soffice")
    if soffice is None:
        raise SystemExit("soffice not found: apt-get install libreoffice-calc")
    subprocess.run(
        [
            soffice,
            "--headless",
            "--infilter=MS Excel 2003 XML",
            "--convert-to",
            "xls:MS Excel 97",
            "--outdir",
            str(out_dir),
            str(xml),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out_dir / (xml.stem + ".xls")


def main() -> int:
    xml = FIXTURES / "ishares_synthetic.xml"
    xml.write_text(workbook(), encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        made = convert(xml, Path(tmp))
        shutil.copyfile(made, FIXTURES / "ishares_synthetic_excel97.xls")
    sys.stdout.write(f"wrote {xml.name} and ishares_synthetic_excel97.xls in {FIXTURES}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
