"""Plot layout rules checked on the rendered figure: labels overlap nothing and name the nearest
point; per-epoch lines stay distinguishable past ten models and the legend hides no curve."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from mnist_models.reporting.plots import _per_epoch, _place_labels, _pyplot  # noqa: E402


def _scatter_with_labels(seed: int, n: int, first: list[int] | None = None):
    rng = random.Random(seed)
    # two tight clusters and a spread: the layout has to refuse some labels
    xs = [rng.uniform(1, 2) for _ in range(n // 3)] + [rng.uniform(1, 100) for _ in range(n)]
    ys = [rng.uniform(90, 91) for _ in range(n // 3)] + [rng.uniform(60, 100) for _ in range(n)]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    ax.plot(xs, ys, "o", ms=5, label="points")
    ax.set_xscale("log")
    ax.legend(loc="best")
    fig.tight_layout()
    labels = [f"model-{i}" for i in range(len(xs))]
    labelled = _place_labels(fig, ax, xs, ys, labels, first=first)
    return plt, fig, ax, xs, ys, labels, labelled


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_overlap_nothing_and_sit_nearest_their_point(seed: int) -> None:
    plt, fig, ax, xs, ys, labels, labelled = _scatter_with_labels(seed, 30)
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    legend = ax.get_legend().get_window_extent(renderer)
    markers = ax.transData.transform(list(zip(xs, ys, strict=True)))
    texts = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
    assert sorted(texts) == sorted(labels[i] for i in labelled)
    assert 5 <= len(labelled) < len(xs), "some labels fit, the dense cluster refuses some"
    boxes = list(texts.values())
    for k, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
        assert box.y1 <= frame.y1
        assert not box.overlaps(legend)
        assert not any(box.overlaps(other) for other in boxes[k + 1 :])
    for i in labelled:
        box = texts[labels[i]]

        def gap(p, box=box) -> float:
            dx = max(box.x0 - p[0], 0.0, p[0] - box.x1)
            dy = max(box.y0 - p[1], 0.0, p[1] - box.y1)
            return (dx * dx + dy * dy) ** 0.5

        own = gap(markers[i])
        assert own > 0, f"{labels[i]} covers its own marker"
        others = [gap(m) for j, m in enumerate(markers) if j != i]
        assert min(others) > own, f"{labels[i]} sits nearer another point than its own"
    plt.close(fig)


def test_points_named_first_are_labelled_first() -> None:
    # in the dense cluster, labels placed earlier crowd out later ones; a point named first
    # gets the room it needs (some cluster points cannot be labelled even alone)
    plt, fig, *_, labelled = _scatter_with_labels(0, 30)
    plt.close(fig)
    refused = [i for i in range(10) if i not in labelled]
    assert refused, "the cluster must refuse some labels for this test to mean anything"
    won = []
    for i in refused:
        plt, fig, *_, again = _scatter_with_labels(0, 30, first=[i])
        plt.close(fig)
        won += [i] if i in again else []
    assert won, f"none of the refused points {refused} got a label when named first"


def test_per_epoch_lines_are_distinct_and_the_legend_hides_none(tmp_path: Path) -> None:
    rows = [
        {"label": f"mlp-{i}@28", "val_accuracy_per_epoch": [0.9, 0.9 + i / 1000]} for i in range(23)
    ]
    plt = _pyplot()
    closed = plt.close
    kept = {}
    plt.close = lambda fig: kept.setdefault("fig", fig)  # keep the figure to inspect it
    try:
        path = _per_epoch(rows, "t", tmp_path / "epochs.png")
    finally:
        plt.close = closed
    fig = kept["fig"]
    ax = fig.axes[0]
    styles = {(line.get_color(), line.get_linestyle(), line.get_marker()) for line in ax.lines}
    assert len(styles) == len(rows), "two models share a colour, line style and marker"
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)


def test_batch_size_plot_only_where_a_series_varies_its_batch(tmp_path: Path) -> None:
    from mnist_models.reporting.plots import write_plots

    def entry(series: str, bs: int, seconds: float) -> dict:
        return {
            "label": f"{series} bs{bs}",
            "series": series,
            "batch_size": bs,
            "epoch_seconds": seconds,
            "per_sample_us": 100.0 / bs,
            "accuracy": 0.95,
            "flops": 1000.0,
            "latency_us_p50": 50.0,
        }

    varied = [entry("a", bs, 64 / bs) for bs in (1, 16, 64)] + [entry("b", 64, 1.0)]
    (tmp_path / "varied").mkdir()
    made = write_plots(varied, tmp_path / "varied", "t")
    assert made["batch_size"].read_bytes()[:4] == b"\x89PNG"
    for e in varied:  # suite runs (report) carry no per-sample latency: that panel says so
        e["per_sample_us"] = None
    (tmp_path / "suite").mkdir()
    assert write_plots(varied, tmp_path / "suite", "t")["batch_size"].stat().st_size > 0
    fixed = [entry("a", 64, 1.0), entry("b", 64, 2.0)]
    (tmp_path / "fixed").mkdir()
    assert "batch_size" not in write_plots(fixed, tmp_path / "fixed", "t")


def test_summary_carries_per_sample_latency_at_the_training_batch() -> None:
    from mnist_models.reporting.tables import summarise

    rows = [
        {"run_id": "mlp-8@28", "batch_size": 16, "seed": s, "latency_batched": {"per_sample_us": v}}
        for s, v in enumerate((2.0, 4.0))
    ]
    rows.append({"run_id": "mlp-16@28", "batch_size": 16, "seed": 0})  # an older row: no figure
    first, second = summarise(rows)
    assert first["per_sample_us"] == 3.0 and second["per_sample_us"] is None


@pytest.mark.parametrize(
    ("labels", "short"),
    [
        (["cnn9@pad:32", "cnn7:tanh@pad:32"], ["cnn9", "cnn7:tanh"]),  # shared: left out
        (["mlp-1024@28 bs1", "mlp-1024x2@28 bs64"], ["mlp-1024 bs1", "mlp-1024x2 bs64"]),
        (["mlp-1024@28", "mlp-1024@resize:14"], ["mlp-1024", "mlp-1024@resize:14"]),
        (["mlp-8@crop:14", "mlp-8@crop:140"], ["mlp-8@crop:14", "mlp-8@crop:140"]),
    ],
)
def test_labels_leave_out_a_resolution_every_run_shares(labels, short) -> None:
    from mnist_models.reporting.plots import short_labels

    assert short_labels(labels) == short
