"""The small Markdown subset the report and the backtest tearsheets write, and its HTML conversion.

Markdown is written with `md_table` and plain lines (headings, `- ` lists, `> ` quotes, paragraphs,
`**bold**` and `` `code` ``); `markdown_to_html` turns exactly that subset into HTML, so the Markdown
and HTML documents always say the same. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

__all__ = ["esc", "markdown_to_html", "md_table", "name_list", "page_start", "slug"]


def esc(text: object) -> str:
    """`text` escaped for HTML text and attribute values."""
    return escape(str(text), quote=True)


def slug(text: str) -> str:
    """An HTML id: lower case, runs of anything but letters and digits as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """A Markdown table; `align` holds one 'l' or 'r' per column (default: first left, rest right)."""
    al = align or "l" + "r" * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in al]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return out


def name_list(items: Sequence[str], limit: int = 12) -> str:
    """The first `limit` items joined by commas, then how many more there are."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _inline(text: str) -> str:
    t = escape(text, quote=False)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", t)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_to_html(lines: Sequence[str]) -> str:
    """HTML for the Markdown subset above: headings, tables, lists, quotes (as banners), paragraphs."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            head, sep, body = _cells(block[0]), _cells(block[1]), [_cells(b) for b in block[2:]]
            cls = [' class="r"' if s.endswith(":") else "" for s in sep]
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th{c}>{_inline(h)}</th>" for h, c in zip(head, cls, strict=True))
            )
            out.append("</tr></thead><tbody>")
            for row in body:
                out.append(
                    "<tr>"
                    + "".join(f"<td{c}>{_inline(v)}</td>" for v, c in zip(row, cls, strict=True))
                    + "</tr>"
                )
            out.append("</tbody></table>")
            continue
        if line.startswith("- "):
            out.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                out.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("</ul>")
            continue
        m = re.match(r"(#{1,4}) (.*)", line)
        if m:
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif line.startswith("> "):
            out.append(f'<p class="banner">{_inline(line[2:])}</p>')
        else:
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def page_start(title: str, css: str) -> list[str]:
    """The opening lines of a self-contained HTML page, up to and including `<main>`."""
    return [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{css}</style></head><body><main>",
    ]
