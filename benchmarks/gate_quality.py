"""Measure the latency gate itself: false alarms, power, and the settings it was built on.

    python -m benchmarks.gate_quality                   # all parts, about 12 minutes
    python -m benchmarks.gate_quality --docs docs  # and write docs/gate-quality*.md

Every comparison times the committed package (HEAD, imported by revision.py, as
`mnist-models compare --baseline HEAD` does) against the working tree's, which must not differ
from it. Conditions: unchanged code with the machine idle, unchanged code with one core kept
busy by another process, and the candidate slowed by extra arithmetic worth 10%, 20% and 50% of
its own time (abtest.ProportionalSlowdown). Each comparison is decided twice: by the
interleaved A/B rule (abtest.decide) and by the rule of plain `--benchmark-compare-fail`
(ratio of the medians of A timed, then B timed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

import mnist_models
from benchmarks.slowdown import ProportionalSlowdown, median_seconds, spin, time_sequential
from mnist_models.ab.abtest import ABSettings, decide, time_interleaved
from mnist_models.ab.compare import TRAIN_BATCH_SIZE, TRAIN_STEPS, Side, _trainer
from mnist_models.ab.revision import load_revision, package_changed, repo_root
from mnist_models.atomic import check_writable, write_text_atomic
from mnist_models.errors import ConfigError
from mnist_models.labels import batch_label
from mnist_models.machine import cpu_model
from mnist_models.measure.example_input import example_input
from mnist_models.measure.threads import num_threads
from mnist_models.measure.timing import time_calls
from mnist_models.verdicts import Verdict

# Comparisons rotate over these (model, batch size): small and large, MLP and CNN.
CASES = (("mlp-1024", 1), ("lenet5", 1), ("cnn9", 1), ("mlp-512x3", 64))
CONDITIONS = (
    ("unchanged, idle", 0.0, False),
    ("unchanged, one core busy", 0.0, True),
    ("+10% work", 0.10, False),
    ("+20% work", 0.20, False),
    ("+50% work", 0.50, False),
)
# The generated tables, each a whole file of its own under --docs (no script edits the README).
TABLE_FILE = "gate-quality.md"
TRAINING_TABLE_FILE = "gate-quality-training.md"
# Training comparisons (`compare`'s training rows): each call is the side's own train() over
# TRAIN_STEPS steps of batch 64; rotating over the gate tier's training set.
TRAIN_CASES = ("mlp-128", "mlp-1024", "mlp-512x3", "lenet5", "cnn9")
TRAIN_CONDITIONS = (
    ("unchanged, idle", 0.0, False),
    ("unchanged, one core busy", 0.0, True),
    ("+10% work", 0.10, False),
)


@contextmanager
def busy_core(enabled: bool) -> Iterator[None]:
    """Keep one core busy with a spinning process for the duration."""
    if not enabled:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


def _sides(case: tuple[str, int], base_pkg, fraction: float, threads: int):
    model_id, bs = case
    model_a = base_pkg.get_model(model_id, seed=0).eval()
    model_b = mnist_models.get_model(model_id, seed=0).eval()
    config, res = mnist_models.get_config(model_id)
    x = example_input((1, res.size, res.size), bs)
    if fraction:
        model_b = ProportionalSlowdown(model_b, x, fraction, threads=threads)
    return (lambda: model_a(x)), (lambda: model_b(x))


def one_comparison(case: tuple[str, int], base_pkg, fraction: float, settings: ABSettings) -> dict:
    """Both rules on one fresh pair of models: A/B verdict and estimate, plain ratio."""
    fa, fb = _sides(case, base_pkg, fraction, settings.threads)
    a, b = time_interleaved(fa, fb, settings)
    result = decide(a, b, settings, label=batch_label(case[0], case[1]), batch_size=case[1])
    seq_a, seq_b = time_sequential(fa, fb, a.size, settings)
    return {**_row(result), "plain_ratio": seq_b / seq_a}


def _row(result) -> dict:
    """One comparison's verdict and estimates with their intervals, JSON-ready."""
    est = result.estimates
    return {
        "case": result.label,
        "failed": bool(result.failed),
        "verdict_by": [m for m, e in est.items() if e.verdict == Verdict.FAIL],
        **{m: [est[m].ratio, est[m].low, est[m].high] for m in ("p50", "p90", "p99")},
        "pairs": result.pairs,
        "calls_per_block": result.calls_per_block,
    }


def slowed(fn: Callable[[], object], fraction: float, threads: int) -> Callable[[], object]:
    """fn plus Python arithmetic worth `fraction` of fn's own median time (a training step
    slowed like ProportionalSlowdown slows a forward pass)."""
    with num_threads(threads):
        for _ in range(3):
            fn()
        bare = median_seconds(fn, 9)
        per_step = median_seconds(lambda: spin(100_000), 11) / 100_000
    steps = max(1, round(fraction * bare / per_step))

    def call() -> object:
        spin(steps)
        return fn()

    return call


def one_training_comparison(
    model_id: str, base_pkg, fraction: float, settings: ABSettings, data
) -> dict:
    """A/B of `steps` training steps of the committed package against the working tree's."""

    n = TRAIN_STEPS * TRAIN_BATCH_SIZE
    subset = data.first(n)
    base = Side(base_pkg, "HEAD")
    head = Side(mnist_models, "working tree")
    fa = _trainer(base, model_id, None, subset, TRAIN_BATCH_SIZE, settings)
    fb = _trainer(head, model_id, None, subset, TRAIN_BATCH_SIZE, settings)
    if fraction:
        fb = slowed(fb, fraction, settings.threads)
    a, b = time_interleaved(fa, fb, settings, grad=True)
    result = decide(a, b, settings, label=f"{model_id} train", batch_size=TRAIN_BATCH_SIZE)
    return _row(result)


def run_training_conditions(
    base_pkg, settings: ABSettings, n: int, log: Callable[[str], None]
) -> dict:
    from mnist_models.measure.data import load_mnist

    def one(i: int, fraction: float) -> dict:
        model_id = TRAIN_CASES[i % len(TRAIN_CASES)]
        data = load_mnist(mnist_models.get_config(model_id)[1], seed=0)
        return one_training_comparison(model_id, base_pkg, fraction, settings, data)

    return _conditions(TRAIN_CONDITIONS, n, one, lambda r: "", log, prefix="training ")


def _conditions(
    conditions: tuple[tuple[str, float, bool], ...],
    n: int,
    one: Callable[[int, float], dict],
    extra: Callable[[dict], str],
    log: Callable[[str], None],
    prefix: str = "",
) -> dict:
    """n comparisons per (name, injected fraction, busy core) condition, one log line each."""
    out = {}
    for name, fraction, busy in conditions:
        rows = []
        with busy_core(busy):
            for i in range(n):
                rows.append(one(i, fraction))
                ratio, low, high = (100 * (v - 1) for v in rows[-1]["p50"])
                log(
                    f"{prefix}{name:<26} {i + 1:>2}/{n} {rows[-1]['case']:<16} "
                    f"p50 {ratio:+6.1f}% [{low:+.1f}%, {high:+.1f}%] {extra(rows[-1])} "
                    f"{'FAIL' if rows[-1]['failed'] else 'ok'}"
                )
        out[name] = {"fraction": fraction, "busy": busy, "rows": rows}
    return out


def render_training_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"Measured by `python -m benchmarks.gate_quality --training-only` on {m['cpu_model']} "
        f"({m['cpu_count']} cores), torch {m['torch']}, {report['date']}: "
        f"{report['n_training']} comparisons per condition rotating over "
        + ", ".join(TRAIN_CASES)
        + f"; each call {TRAIN_STEPS} steps of batch {TRAIN_BATCH_SIZE} of `train()`, "
        f"{report['settings']['threads']} thread, {report['settings']['seconds']:g} s per "
        f"comparison; {report['training_wall_s']:.0f} s in all.",
        "",
        "| condition | A/B gate: failed | p50 change, median (range) | median ±half-interval |",
        "|---|---|---|---|",
    ]
    for name, c in report["training"].items():
        rows = c["rows"]
        changes = [r["p50"][0] - 1 for r in rows]
        half = statistics.median((r["p50"][2] - r["p50"][1]) / 2 for r in rows)
        lines.append(
            f"| {name} | **{sum(r['failed'] for r in rows)}/{len(rows)}** "
            f"| {100 * statistics.median(changes):+.1f}% ({100 * min(changes):+.1f}% to "
            f"{100 * max(changes):+.1f}%) | ±{100 * half:.1f}% |"
        )
    return "\n".join(lines)


def run_conditions(base_pkg, settings: ABSettings, n: int, log: Callable[[str], None]) -> dict:
    def one(i: int, fraction: float) -> dict:
        return one_comparison(CASES[i % len(CASES)], base_pkg, fraction, settings)

    return _conditions(
        CONDITIONS, n, one, lambda r: f"plain {100 * (r['plain_ratio'] - 1):+6.1f}% ", log
    )


def warmup_profile(settings: ABSettings) -> dict:
    """Calls until a fresh model's running median settles within 5% of its steady median."""
    out = {}
    for model_id, bs in CASES:
        model = mnist_models.get_model(model_id, seed=0).eval()
        _, res = mnist_models.get_config(model_id)
        x = example_input((1, res.size, res.size), bs)
        with num_threads(settings.threads), torch.inference_mode():
            times = time_calls(lambda m=model, x=x: m(x), 300)  # microseconds
        steady = statistics.median(times[150:])
        settled = next(
            (
                i
                for i in range(0, 150, 5)
                if abs(statistics.median(times[i : i + 10]) / steady - 1) < 0.05
            ),
            150,
        )
        out[batch_label(model_id, bs)] = {
            "first_call_x_steady": times[0] / steady,
            "calls_to_settle": settled,
            "steady_us": steady,
        }
    return out


def design_sweep(base_pkg, settings: ABSettings, n: int, log: Callable[[str], None]) -> dict:
    """Interval width of the p50/p90 ratio for unchanged code, by threads, load and seconds."""
    out: dict[str, dict] = {}
    variants = [
        (f"threads={t}, {'one core busy' if busy else 'idle'}, {s:g} s", t, busy, s)
        for t, busy, s in (
            (1, False, 2.0),
            (2, False, 2.0),
            (1, True, 2.0),
            (2, True, 2.0),
            (1, False, 0.5),
            (1, False, 1.0),
            (1, False, 4.0),
        )
    ]
    for name, threads, busy, seconds in variants:
        cfg = dataclasses.replace(settings, threads=threads, seconds=seconds)
        rows = []
        with busy_core(busy):
            for i in range(n):
                rows.append(one_comparison(CASES[i % len(CASES)], base_pkg, 0.0, cfg))
        out[name] = {
            "p50_halfwidth": statistics.median((r["p50"][2] - r["p50"][1]) / 2 for r in rows),
            "p90_halfwidth": statistics.median((r["p90"][2] - r["p90"][1]) / 2 for r in rows),
            "worst_p50": max(abs(r["p50"][0] - 1) for r in rows),
            "failed": sum(r["failed"] for r in rows),
            "n": n,
        }
        log(
            f"design {name:<32} p50 ±{100 * out[name]['p50_halfwidth']:.1f}%  "
            f"p90 ±{100 * out[name]['p90_halfwidth']:.1f}%"
        )
    return out


def summarise(conditions: dict) -> dict:
    """Failures per condition for the A/B rule, and the plain rule at the threshold it needs."""
    null = [r for c in conditions.values() if c["fraction"] == 0 for r in c["rows"]]
    # The smallest whole-percent threshold with no false alarm in either unchanged condition.
    needed = max(0.0, max(r["plain_ratio"] - 1 for r in null))
    threshold = float((np.floor(needed * 100) + 1) / 100)
    table = {}
    for name, c in conditions.items():
        rows = c["rows"]
        table[name] = {
            "n": len(rows),
            "ab_failed": sum(bool(r["failed"]) for r in rows),
            "ab_median_change": statistics.median(r["p50"][0] - 1 for r in rows),
            "ab_median_halfwidth": statistics.median((r["p50"][2] - r["p50"][1]) / 2 for r in rows),
            "plain_failed_at_needed": sum(bool(r["plain_ratio"] - 1 > threshold) for r in rows),
            "plain_failed_at_5pct": sum(bool(r["plain_ratio"] - 1 > 0.05) for r in rows),
            "plain_worst_change": max(abs(r["plain_ratio"] - 1) for r in rows),
        }
    return {"plain_threshold_needed": float(threshold), "conditions": table}


def render_markdown(report: dict) -> str:
    s = report["summary"]
    settings = report["settings"]
    thr = 100 * s["plain_threshold_needed"]
    lines = [
        f"Measured by `python -m benchmarks.gate_quality` on {report['machine']['cpu_model']} "
        f"({report['machine']['cpu_count']} cores), torch {report['machine']['torch']}, "
        f"{report['date']}; {report['n']} comparisons per condition rotating over "
        + ", ".join(batch_label(m, b) for m, b in CASES)
        + f"; {settings['threads']} thread, {settings['seconds']:g} s of timing per comparison.",
        "",
        "| condition | A/B gate: failed | A/B: median p50 change (median ±half-interval) "
        f"| plain `--benchmark-compare-fail=median:{thr:g}%`: failed "
        "| plain at 5%: failed | plain: worst change |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in s["conditions"].items():
        n = row["n"]
        lines.append(
            f"| {name} | {row['ab_failed']}/{n} | {100 * row['ab_median_change']:+.1f}% "
            f"(±{100 * row['ab_median_halfwidth']:.1f}%) | {row['plain_failed_at_needed']}/{n} "
            f"| {row['plain_failed_at_5pct']}/{n} | {100 * row['plain_worst_change']:.1f}% |"
        )
    lines += [
        "",
        f"Plain comparison needs a {thr:g}% threshold for no false alarm here, timing A then B "
        "in one session; between two separate runs its noise is far larger (README, run record).",
    ]
    if report.get("design"):
        lines += [
            "",
            "| design variant (unchanged code) | p50 ±half-interval | p90 ±half-interval "
            "| worst p50 change | failed |",
            "|---|---|---|---|---|",
        ]
        for name, row in report["design"].items():
            lines.append(
                f"| {name} | ±{100 * row['p50_halfwidth']:.1f}% "
                f"| ±{100 * row['p90_halfwidth']:.1f}% "
                f"| {100 * row['worst_p50']:.1f}% | {row['failed']}/{row['n']} |"
            )
    if report.get("warmup"):
        lines += [
            "",
            "| warm-up, fresh model | first call / steady | calls until within 5% | steady us |",
            "|---|---|---|---|",
        ]
        for name, row in report["warmup"].items():
            lines.append(
                f"| {name} | {row['first_call_x_steady']:.1f}x | {row['calls_to_settle']} "
                f"| {row['steady_us']:.0f} |"
            )
    return "\n".join(lines)


def write_table(folder: Path, name: str, title: str, table: str, flag: str = "") -> Path:
    """Write one generated table as a whole Markdown file (atomically): README and docs pages
    link to it, nothing edits them."""
    path = Path(folder) / name
    header = (
        f"<!-- Written by `python -m benchmarks.gate_quality{flag} --docs {folder}`; edit the "
        "script, not this file. -->\n\n"
    )
    write_text_atomic(path, f"{header}# {title}\n\n{table}\n")
    return path


def run_environment_conditions(
    python: str, settings: ABSettings, n: int, log: Callable[[str], None]
) -> dict:
    """`compare --env`'s rule on unchanged code: n comparisons of this environment against the
    one of `python` (the same torch for an A/A check), one worker per environment, rotating
    over CASES. Every one should pass."""
    from mnist_models.ab.environments import (
        Environment,
        EnvPair,
        compare_environments,
        current_environment,
        headline,
        resolve_python,
    )

    rows = []
    other = Environment(resolve_python(python), label=python)
    with EnvPair(other, current_environment()) as pair:
        head = headline(other, pair.candidate)
        for i in range(n):
            model, bs = CASES[i % len(CASES)]
            ((_, result),) = compare_environments(pair, [model], [bs], settings)
            rows.append({**_row(result), "verdict": str(result.verdict)})
            log(f"  environments {i + 1}/{n}: {model} bs{bs} {result.verdict}")
    failed = sum(r["failed"] for r in rows)
    return {"headline": head, "rows": rows, "failed": failed, "n": n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=20, help="per condition")
    parser.add_argument("--seconds", type=float, default=ABSettings().seconds)
    parser.add_argument(
        "--design-comparisons", type=int, default=8, help="0 skips the design sweep"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/gate_quality.json"))
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="write the tables as Markdown files into this folder",
    )
    parser.add_argument(
        "--training-comparisons", type=int, default=20, help="per training condition (0: none)"
    )
    parser.add_argument(
        "--training-only", action="store_true", help="only the training comparisons"
    )
    parser.add_argument(
        "--env",
        default=None,
        metavar="PYTHON",
        help="also compare this environment against another (`compare --env`'s A/A: give one "
        "with the same torch), --comparisons times",
    )
    parser.add_argument("--env-only", action="store_true", help="only the --env comparisons")
    args = parser.parse_args(argv)
    try:
        check_writable(args.out)
        if args.comparisons < 1:
            raise ConfigError(f"--comparisons must be >= 1, got {args.comparisons}")
        repo = repo_root(Path(__file__).parent)
        if package_changed("HEAD", repo):
            raise ConfigError(
                "mnist_models/ differs from HEAD: commit or stash first, so that 'unchanged' "
                "compares the same code"
            )
        base_pkg = load_revision("HEAD", repo)
    except ConfigError as err:
        print(f"gate_quality: error: {err}", file=sys.stderr)
        return 2
    settings = ABSettings(seconds=args.seconds)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.time()
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "settings": settings.recorded(),
        "n": args.comparisons,
        "n_training": args.training_comparisons,
    }
    if args.env:
        report["environments"] = run_environment_conditions(
            args.env, settings, args.comparisons, log
        )
        env = report["environments"]
        print(
            f"compare --env, {env['headline']}: {env['n'] - env['failed']} of {env['n']} "
            "comparisons passed"
        )
    if args.env_only:
        pass
    elif not args.training_only:
        report["warmup"] = warmup_profile(settings)
        if args.design_comparisons:
            report["design"] = design_sweep(base_pkg, settings, args.design_comparisons, log)
        report["conditions"] = run_conditions(base_pkg, settings, args.comparisons, log)
        report["summary"] = summarise(report["conditions"])
    if args.training_comparisons and not args.env_only:
        t0 = time.time()
        report["training"] = run_training_conditions(
            base_pkg, settings, args.training_comparisons, log
        )
        report["training_wall_s"] = time.time() - t0
    report["wall_s"] = time.time() - started
    write_text_atomic(args.out, json.dumps(report, indent=2, default=float) + "\n")
    if "summary" in report:
        table = render_markdown(report)
        print(table)
        if args.docs:
            write_table(args.docs, TABLE_FILE, "The A/B latency gate, measured", table)
    if "training" in report:
        table = render_training_markdown(report)
        print(table)
        if args.docs:
            write_table(
                args.docs,
                TRAINING_TABLE_FILE,
                "The A/B training rows, measured",
                table,
                " --training-only",
            )
    log(f"wrote {args.out} in {report['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
