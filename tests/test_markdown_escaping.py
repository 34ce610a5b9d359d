"""What a contributor controls (test ids, metric names, units, A/B labels, lanes) cannot inject
Markdown into the pull-request summary the workflow posts: crafted values go through the real
renderer, and the result is parsed by a CommonMark parser with GitHub's tables (markdown-it)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from mnist_models.gates.record import GateRecord
from mnist_models.gates.rules import Metric
from mnist_models.reporting.pr_summary import render_markdown
from mnist_models.table import md_code, md_text

PARSER = MarkdownIt("commonmark").enable("table")
PIECES = list("ab |`*_[]()<>!#@\\\n\r\t~&:/.-=") + ["![x](y)", "@admin", "<img src=x>", "```"]
HOSTILE = st.lists(st.sampled_from(PIECES), min_size=1, max_size=20).map("".join)


def _summary(name: str, metric: str, unit: str, lane: str, label: str, links: str) -> str:
    rule = Metric(metric, "exact", unit)
    rows = [
        GateRecord(f"b.py::test[{name}]", rule, 2.0, 1.0, "FAIL", "", lane),
        GateRecord("b.py::test[ok]", rule, 1.0, 1.0, "same", "", lane),
    ]
    ab = {"results": [{"label": label, "verdict": "FAIL", "estimates": {
        q: {"ratio": 1.2, "low": 1.1, "high": 1.3, "baseline_us": 5.0} for q in ("p50", "p99")
    }}]}  # fmt: skip
    info = {"only_in_new": [], "only_in_baseline": []}
    return render_markdown(
        rows, info, new=f"new{name}.json", base="old.json", machine=[name], ab=ab, links=links
    )


def _shape(markdown: str) -> dict:
    """What the Markdown renders as: block structure, cells per table row, and every piece of
    inline markup (links, images, HTML, emphasis), with the text that could mention someone."""
    blocks, cells, inline, text = [], [], [], []
    for token in PARSER.parse(markdown):
        if token.type == "tr_open":
            cells.append(0)
        elif token.type in ("td_open", "th_open"):
            cells[-1] += 1
        elif token.type == "inline":
            for child in token.children or []:
                if child.type in ("text", "softbreak", "hardbreak"):
                    text.append(child.content)
                elif child.type != "code_inline":
                    inline.append(child.type)
        else:
            blocks.append(token.type)
    return {"blocks": blocks, "cells": cells, "inline": inline, "text": " ".join(text)}


@given(name=HOSTILE, metric=HOSTILE, unit=HOSTILE, lane=HOSTILE, label=HOSTILE, links=HOSTILE)
def test_crafted_names_stay_inside_their_cells(
    name: str, metric: str, unit: str, lane: str, label: str, links: str
) -> None:
    benign = _shape(_summary("x", "m", "", "l", "x", "x"))
    shape = _shape(_summary(name, metric, unit, lane, label, links))
    assert shape["blocks"] == benign["blocks"]  # no heading, list, quote, HTML block or line added
    assert shape["cells"] == benign["cells"]  # every table row keeps its columns
    assert shape["inline"] == benign["inline"]  # only our own bold: no link, image, HTML
    assert not re.search(r"@\w", shape["text"])  # no @mention outside code spans


def test_code_spans_hold_backticks_and_pipes() -> None:
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"
    assert md_code("a|b\nc") == "`a\\|b c`"
    assert md_text("**x** [y](z) @me") == "\\*\\*x\\*\\* \\[y\\]\\(z\\) @\u200bme"
