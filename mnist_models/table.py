"""The one table renderer: plain text for terminals and logs, GitHub Markdown for files and
pull-request comments. Cells are strings, already formatted; the first `left` columns are
left-aligned, the rest right-aligned (numbers)."""

from __future__ import annotations

import re
from collections.abc import Sequence


def text_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    left: int = 1,
    align: str = "",
    indent: str = "",
) -> list[str]:
    """Columns padded to their widest cell, two spaces apart, trailing spaces stripped; `align`
    as for markdown_table. A short row is padded with empty cells."""
    lines = [list(header), *(list(r) for r in rows)]
    width = max(len(line) for line in lines)
    lines = [line + [""] * (width - len(line)) for line in lines]
    widths = [max(len(line[i]) for line in lines) for i in range(width)]
    align = align or "l" * left + "r" * (width - left)
    return [
        indent
        + "  ".join(
            cell.ljust(w) if a == "l" else cell.rjust(w)
            for cell, w, a in zip(line, widths, align, strict=True)
        ).rstrip()
        for line in lines
    ]


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1, align: str = ""
) -> list[str]:
    """| a | b | rows under a ---/---: rule that aligns numbers right; `align` ("llrrl", one
    letter per column) where the left-aligned columns are not simply the first ones."""
    align = align or "l" * left + "r" * (len(header) - left)
    rule = ["---" if a == "l" else "---:" for a in align]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(rule) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


# --- text that reaches Markdown -----------------------------------------------------------------
# Benchmark names, metric names and units come from files a contributor controls (test ids, gate
# declarations); the pull-request workflow posts what they become with write permission. Every
# such value goes through one of these: nothing in it can end a cell, a line or a code span, or
# become a heading, a link, an image, HTML or an @mention.

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()<>#!|~&])")
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9/:._~%?=+-]+")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())  # newlines, tabs and runs of spaces folded to one


def md_text(value: object) -> str:
    """Any value as literal inline Markdown text (a table cell's too)."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(value))
    return text.replace("@", "@\u200b")  # a zero-width space: `@name` mentions nobody


def md_code(value: object) -> str:
    """Any value as one inline code span (mentions, HTML and emphasis are inert inside): the
    fence is longer than any run of backticks in it; `|` escaped, as GitHub tables need."""
    text = _one_line(value).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_link(value: object) -> str:
    """A plain http(s) URL as an autolink; anything else as literal text."""
    text = _one_line(value)
    return f"<{text}>" if _PLAIN_URL.fullmatch(text) else md_text(text)
