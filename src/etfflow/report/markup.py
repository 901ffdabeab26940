"""Markdown helpers the report and the backtest tearsheets share, and the Markdown-to-HTML conversion.

Markdown is written with `md_table` and plain lines; `markdown_to_html` converts it with markdown-it-py
(CommonMark and tables; it comes with Rich), so the Markdown and HTML documents always say the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from html import escape
from typing import Any

__all__ = ["esc", "markdown_to_html", "md_table", "md_text", "name_list", "page_start", "slug"]

#: what starts Markdown links, images, code spans, emphasis or raw HTML: backslash, backtick, '*', '_',
#: brackets, and a '<' followed by a letter, '/', '!' or '?'
_MD_SPECIAL = re.compile(r"([\\`*_\[\]]|<(?=[A-Za-z/!?]))")
#: in table cells, which may carry intended emphasis, intervals and comparisons: a '<' that would start
#: raw HTML or an autolink (followed by a letter, '/', '!' or '?') and a ']' that would close a link
#: text (followed by '(' or '['), unless already escaped
_MD_CELL = re.compile(r"(?<!\\)(<(?=[A-Za-z/!?])|\](?=[(\[]))")


def esc(text: object) -> str:
    """`text` escaped for HTML text and attribute values."""
    return escape(str(text), quote=True)


def md_text(text: object) -> str:
    """Data text (a fund, group or theme name) made inert in Markdown: its special characters are
    backslash-escaped, which CommonMark renders as the characters themselves."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def slug(text: str) -> str:
    """An HTML id: lower case, runs of anything but letters and digits as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """A Markdown table; `align` holds one 'l' or 'r' per column (default: first left, rest right).

    A '|' in a cell becomes '/'; a '<' that would open a tag and a ']' that would close a link text
    are backslash-escaped (no cell becomes a link, an image or HTML; emphasis is left to the caller, and
    `md_text` escapes names whole)."""
    al = align or "l" + "r" * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in al]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def _cell(value: object) -> str:
    return _MD_CELL.sub(r"\\\1", str(value).replace("|", "/"))


def name_list(items: Sequence[str], limit: int = 12) -> str:
    """The first `limit` items joined by commas, then how many more there are."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    # CommonMark with tables; raw HTML in the text is escaped, never passed through
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_to_html(lines: Sequence[str]) -> str:
    """HTML for Markdown lines (markdown-it-py, CommonMark + tables), in the report's house style.

    Quotes become banners (`<div class="banner">`), right-aligned table cells get `class="r"`
    (the stylesheet sets tabular figures there) instead of an inline style.
    """
    md = _parser()
    tokens = md.parse("\n".join(lines))
    for tok in tokens:
        if tok.type in ("th_open", "td_open") and tok.attrGet("style") == "text-align:right":
            tok.attrs.pop("style", None)
            tok.attrSet("class", "r")
        elif tok.type == "blockquote_open":
            tok.tag = "div"
            tok.attrSet("class", "banner")
        elif tok.type == "blockquote_close":
            tok.tag = "div"
    html: str = md.renderer.render(tokens, md.options, {})
    return html.strip()


def page_start(title: str, css: str) -> list[str]:
    """The opening lines of a self-contained HTML page, up to and including `<main>`."""
    return [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{css}</style></head><body><main>",
    ]
