"""Trade-off plots of summarised runs (tables.summarise): PNGs with labelled axes and units.

accuracy vs FLOPs, FLOPs vs latency, latency vs accuracy with the Pareto front marked, and
validation accuracy per epoch. Point labels are placed so that they overlap nothing and sit
nearest the point they name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import fields

PLOTS = {
    "accuracy_vs_flops": "Accuracy vs FLOPs",
    "flops_vs_latency": "FLOPs vs latency",
    "latency_vs_accuracy": "Latency vs accuracy (Pareto front)",
    "accuracy_per_epoch": "Validation accuracy per epoch",
    fields.BATCH_SIZE: "Training time, per-sample latency and accuracy vs batch size",
}
_OFFSETS = [(5, 5), (5, -11), (-5, 5), (-5, -11), (0, 10), (0, -15), (9, -3), (-9, -3)]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    """Render to memory, then replace the file atomically: never a half-written PNG."""
    import io

    from ..atomic import write_bytes_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both: lower x (latency), higher y (accuracy);
    sorted by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def short_labels(labels: list[str]) -> list[str]:
    """Point and line labels without the resolution when every run shares it ("cnn9@pad:32"
    -> "cnn9" in a study run at pad:32); the native 28 is always left out."""
    found = [re.search(r"@\S+", label) for label in labels]
    tokens = {m.group(0) for m in found if m}
    common = tokens.pop() if len(tokens) == 1 and all(found) else "@28"
    return [re.sub(re.escape(common) + r"(?!\S)", "", label) for label in labels]


def _nearest_is_own(box: Any, own: int, markers: list[tuple[float, float]]) -> bool:
    """True when no other marker is as close to the label as the point it names, so that a
    reader cannot attach the label to a neighbour."""

    def gap(px: float, py: float) -> float:
        dx = max(box.x0 - px, 0.0, px - box.x1)
        dy = max(box.y0 - py, 0.0, py - box.y1)
        return (dx * dx + dy * dy) ** 0.5

    mine = gap(*markers[own])
    return all(gap(*m) > mine + 2.0 for i, m in enumerate(markers) if i != own)


def _place_labels(
    fig: Any,
    ax: Any,
    xs: list[float],
    ys: list[float],
    labels: list[str],
    first: list[int] | None = None,
) -> list[int]:
    """Annotate each point at the first offset where the label stays inside the axes, overlaps
    neither the legend, a marker, nor a label placed before, and lies nearer its own point than
    any other. Where none fits (dense clusters), the point stays unlabelled rather than covered
    or mislabelled. Points in `first` (the Pareto front) are labelled before the others.
    Returns the indices that got a label."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    from matplotlib.transforms import Bbox

    legend = ax.get_legend()
    placed = [legend.get_window_extent(renderer)] if legend else []
    markers = [
        (float(px), float(py)) for px, py in ax.transData.transform(list(zip(xs, ys, strict=True)))
    ]
    for px, py in markers:
        placed.append(Bbox([[px - 3.5, py - 3.5], [px + 3.5, py + 3.5]]))
    order = list(dict.fromkeys([*(first or []), *range(len(xs))]))
    labelled = []
    for i in order:
        for dx, dy in _OFFSETS:
            ann = ax.annotate(
                labels[i],
                (xs[i], ys[i]),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=7,
                ha="left" if dx >= 0 else "right",
                color="0.25",
                # readable where it crosses a grid or Pareto line
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75},
            )
            box = ann.get_window_extent(renderer)
            inside = (
                box.x0 >= frame.x0
                and box.x1 <= frame.x1
                and box.y0 >= frame.y0
                and box.y1 <= frame.y1
            )
            if (
                inside
                and not any(box.overlaps(other) for other in placed)
                and _nearest_is_own(box, i, markers)
            ):
                placed.append(box.expanded(1.04, 1.2))
                labelled.append(i)
                break
            ann.remove()
    return sorted(labelled)


def _readable_ticks(axis: Any, key: str, log: bool) -> None:
    """Plain numbers on log axes (100, 200, 500 us; 100k, 200k, 1M FLOPs), not 10^2 notation;
    the 2 and 5 (and on a narrow axis 3) minor ticks are labelled so that a range narrower than a
    decade still has some."""
    from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator

    if not log:
        return
    fmt = EngFormatter(sep="") if key == fields.FLOPS else FuncFormatter(lambda v, _: f"{v:g}")
    low, high = sorted(axis.get_view_interval())
    narrow = low > 0 and high / low < 30  # under ~1.5 decades: label 3 too
    axis.set_major_formatter(fmt)
    axis.set_minor_locator(LogLocator(subs=(2, 3, 5) if narrow else (2, 5)))
    axis.set_minor_formatter(fmt)


def _scatter(
    summary: list[dict[str, Any]],
    xkey: str,
    ykey: str,
    xlabel: str,
    ylabel: str,
    title: str,
    path: Path,
    *,
    xscale: float = 1.0,
    yscale: float = 1.0,
    logx: bool = False,
    logy: bool = False,
    front: bool = False,
) -> Path | None:
    rows = [e for e in summary if e.get(xkey) is not None and e.get(ykey) is not None]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    series = list(dict.fromkeys(e[fields.SERIES] for e in rows))
    for name in series:
        members = [e for e in rows if e[fields.SERIES] == name]
        xerr = [(e.get(f"{xkey}_std") or 0) * xscale for e in members]
        yerr = [(e.get(f"{ykey}_std") or 0) * yscale for e in members]
        ax.errorbar(
            [e[xkey] * xscale for e in members],
            [e[ykey] * yscale for e in members],
            xerr=xerr if any(xerr) else None,
            yerr=yerr if any(yerr) else None,
            fmt="o",
            ms=5,
            capsize=2,
            label=name,
        )
    xs = [e[xkey] * xscale for e in rows]
    ys = [e[ykey] * yscale for e in rows]
    idx: list[int] = []
    if front:
        idx = pareto_front(list(zip(xs, ys, strict=True)))
        ax.step(
            [xs[i] for i in idx],
            [ys[i] for i in idx],
            where="post",
            color="crimson",
            lw=1.2,
            ls="--",
            label="Pareto front",
            zorder=0,
        )
        ax.scatter(
            [xs[i] for i in idx],
            [ys[i] for i in idx],
            s=110,
            facecolors="none",
            edgecolors="crimson",
            lw=1.2,
            zorder=3,
        )
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.margins(0.12)
    _readable_ticks(ax.xaxis, xkey, logx)
    _readable_ticks(ax.yaxis, ykey, logy)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="best", framealpha=0.85)
    fig.tight_layout()
    _place_labels(fig, ax, xs, ys, short_labels([e["label"] for e in rows]), first=idx)
    _save(fig, path)
    plt.close(fig)
    return path


_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D")


def _per_epoch(summary: list[dict[str, Any]], title: str, path: Path) -> Path | None:
    """One line per model. Colours repeat after ten, so each line also gets its own line style
    and marker; the legend sits outside the axes so that it never hides a curve."""
    rows = [e for e in summary if len(e.get("val_accuracy_per_epoch") or []) > 1]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5), dpi=120, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = short_labels([e["label"] for e in rows])
    for i, e in enumerate(rows):
        curve = e["val_accuracy_per_epoch"]
        turn = i // len(colours)
        ax.plot(
            range(1, len(curve) + 1),
            [100 * v for v in curve],
            color=colours[i % len(colours)],
            ls=_STYLES[turn % len(_STYLES)],
            marker=_MARKERS[turn % len(_MARKERS)],
            ms=3,
            label=names[i],
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title, fontsize=11)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    fig.legend(fontsize=7, loc="outside right upper", ncol=2 if len(rows) > 20 else 1)
    _save(fig, path)
    plt.close(fig)
    return path


def _batch_sizes(summary: list[dict[str, Any]], title: str, path: Path) -> Path | None:
    """Where a series was trained at several batch sizes: time per epoch, per-sample latency at
    that batch size, and test accuracy against batch size, one line per series."""
    series: dict[str, list[dict[str, Any]]] = {}
    for e in summary:
        if e.get(fields.BATCH_SIZE) is not None:
            series.setdefault(e[fields.SERIES], []).append(e)
    series = {k: v for k, v in series.items() if len({e[fields.BATCH_SIZE] for e in v}) > 1}
    if not series:
        return None
    plt = _pyplot()
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), dpi=120, layout="constrained")
    panels = (
        (fields.EPOCH_SECONDS, 1.0, "time per epoch (s, log scale)", True),
        (fields.PER_SAMPLE_US, 1.0, "latency per sample at that batch (us, log scale)", True),
        (fields.ACCURACY, 100.0, "test accuracy (%)", False),
    )
    sizes = sorted({e[fields.BATCH_SIZE] for v in series.values() for e in v})
    for ax, (key, scale, ylabel, logy) in zip(axes, panels, strict=True):
        if not any(e.get(key) is not None for v in series.values() for e in v):
            ax.text(0.5, 0.5, "not measured in these runs", ha="center", transform=ax.transAxes)
            ax.set(xticks=[], yticks=[], xlabel="training batch size", ylabel=ylabel)
            continue
        for name, members in series.items():
            members = sorted(
                (e for e in members if e.get(key) is not None), key=lambda e: e[fields.BATCH_SIZE]
            )
            ax.plot(
                [e[fields.BATCH_SIZE] for e in members],
                [e[key] * scale for e in members],
                marker="o",
                ms=4,
                label=name,
            )
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        if logy:
            ax.set_yscale("log")
            _readable_ticks(ax.yaxis, key, True)
        ax.set_xlabel("training batch size (log scale)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, framealpha=0.85)
    fig.suptitle(title, fontsize=11)
    _save(fig, path)
    plt.close(fig)
    return path


def write_plots(summary: list[dict[str, Any]], out: Path, title: str) -> dict[str, Path]:
    """Every plot the data allows, as out/<kind>.png; returns {kind: path}."""
    made = {
        "accuracy_vs_flops": _scatter(
            summary,
            fields.FLOPS,
            fields.ACCURACY,
            "FLOPs per sample (log scale)",
            "test accuracy (%)",
            f"{title}\naccuracy vs FLOPs",
            out / "accuracy_vs_flops.png",
            yscale=100,
            logx=True,
        ),
        "flops_vs_latency": _scatter(
            summary,
            fields.FLOPS,
            fields.LATENCY_P50,
            "FLOPs per sample (log scale)",
            "latency p50, batch 1 (us, log scale)",
            f"{title}\nFLOPs vs latency",
            out / "flops_vs_latency.png",
            logx=True,
            logy=True,
        ),
        "latency_vs_accuracy": _scatter(
            summary,
            fields.LATENCY_P50,
            fields.ACCURACY,
            "latency p50, batch 1 (us, log scale)",
            "test accuracy (%)",
            f"{title}\nlatency vs accuracy (dashed: Pareto front)",
            out / "latency_vs_accuracy.png",
            yscale=100,
            logx=True,
            front=True,
        ),
        "accuracy_per_epoch": _per_epoch(
            summary, f"{title}\nvalidation accuracy per epoch", out / "accuracy_per_epoch.png"
        ),
        fields.BATCH_SIZE: _batch_sizes(summary, title, out / "batch_size.png"),
    }
    return {k: v for k, v in made.items() if v is not None}
