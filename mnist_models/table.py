"""The one table renderer: plain text for terminals and logs, GitHub Markdown for files and
pull-request comments. Cells are strings, already formatted; the first `left` columns are
left-aligned, the rest right-aligned (numbers)."""

from __future__ import annotations

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
