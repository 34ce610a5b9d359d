"""The output schema: every figure the tool records, declared once (name, unit, which way is
better, table column, CSV header) and imported wherever it is written or read.

A `Field` is the string it is stored under, so `extra_info[fields.ACCURACY]` reads like the key
it is; its attributes say how to show it. Benchmarks, gate declarations, saved-run validation,
tables, CSV, plots and run records all take their names from here, and
`tests/test_architecture.py` fails if one of these names is spelled as a string anywhere else
in the package. `FORMAT` is the version of every JSON file the tool writes (formats.py reads
older ones).
"""

from __future__ import annotations

from typing import Any

# The version of the files this tool writes (baselines and runs' `mnist_bench` block, gate
# reports, study results, the run store, the history store, compare's JSON). Files without one
# are format 0; formats.py says what changed between versions and reads older files.
FORMAT = 3


class Field(str):
    """A recorded figure: its key (the string itself) and how it is shown and compared.

    better: "higher", "lower" or "" (context or a count where any change matters); label: the
    table column, unit included; scale and fmt: how a table shows it (value x scale, formatted);
    type: what a saved run must hold there: "number" (finite), "text" or "object" (a
    structure its own reader checks).
    """

    unit: str
    better: str
    label: str
    scale: float
    fmt: str
    type: str

    def __new__(
        cls,
        name: str,
        *,
        unit: str = "",
        better: str = "",
        label: str = "",
        scale: float = 1,
        fmt: str = "{}",
        type: str = "number",
    ) -> Field:
        if type not in ("number", "text", "object"):
            raise ValueError(f"a field's type is number, text or object, got {type!r}")
        self = super().__new__(cls, name)
        self.unit, self.better, self.scale, self.fmt, self.type = unit, better, scale, fmt, type
        self.label = label or name
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (str, (str(self),))  # pickled (xdist, multiprocessing) as the plain key

    def show(self, value: float) -> str:
        """The value as its table column shows it."""
        return self.fmt.format(value * self.scale)


# --- what a figure was measured on (context, in every row) -------------------------------------
MODEL = Field("model", type="text")
RESOLUTION = Field("resolution", type="text")
DEVICE = Field("device", type="text")
MODE = Field("mode", type="text")  # eager, compile, script
RUN_ID = Field("run_id", type="text")  # model@resolution
SERIES = Field("series", type="text")  # the model family (mlp, lenet5, cnn...)
STUDY = Field("study", type="text")
VERSION = Field("version", type="text")  # the package version that measured it
KIND = Field("kind", type="text")  # instruction cases: forward or train
BATCH_SIZE = Field("batch_size", label="batch size", fmt="{:.0f}")
THREADS = Field("threads", fmt="{:.0f}")
EPOCHS = Field("epochs", fmt="{:.0f}")
SEED = Field("seed", fmt="{:.0f}")
INSTRUCTION_KEY = Field("instruction_key", type="text")
# a seeded training's numeric path: the pin's variables and the ATen level they gave
NUMERIC_PATH = Field("numeric_path", type="text")

# --- sizes and counts (exact: any change matters) ----------------------------------------------
PARAMS = Field("params", label="params", fmt="{:,.0f}")
MACS = Field("macs", label="MACs", fmt="{:,.0f}")
FLOPS = Field("flops", label="FLOPs", fmt="{:,.0f}")
SIZE = Field("size_bytes", unit="B", label="size (KiB)", scale=1 / 1024, fmt="{:,.1f}")
SIZE_WITH_ADAM = Field(
    "size_with_adam_bytes",
    unit="B",
    label="size with Adam state (KiB)",
    scale=1 / 1024,
    fmt="{:,.1f}",
)

# --- training ----------------------------------------------------------------------------------
ACCURACY = Field(
    "accuracy", unit="%", better="higher", label="accuracy (%)", scale=100, fmt="{:.2f}"
)
TRAIN_SECONDS = Field(
    "train_seconds", unit="s", better="lower", label="training time (s)", fmt="{:.2f}"
)
EPOCH_SECONDS = Field(
    "epoch_seconds", unit="s", better="lower", label="time per epoch (s)", fmt="{:.2f}"
)
EPOCH_S = Field("epoch_s", unit="s", better="lower")  # CUDA's gated epoch time (older name)
EPOCH_CPU_REL = Field("epoch_cpu_rel", unit="x ref", better="lower")  # per reference workload
FINAL_TRAIN_LOSS = Field("final_train_loss", better="lower")
TRAIN_ENERGY = Field(
    "train_energy_j", unit="J", better="lower", label="energy, training (J)", fmt="{:.1f}"
)
TRAIN_CO2 = Field(
    "train_co2_g", unit="g", better="lower", label="CO2eq, training (mg)", scale=1000, fmt="{:.3f}"
)
INFERENCE_CO2 = Field("inference_co2_g", unit="g", better="lower")

# --- latency -----------------------------------------------------------------------------------
LATENCY_P50 = Field(
    "latency_us_p50", unit="us", better="lower", label="latency p50, batch 1 (us)", fmt="{:.1f}"
)
LATENCY_P90 = Field(
    "latency_us_p90", unit="us", better="lower", label="latency p90 (us)", fmt="{:.1f}"
)
LATENCY_P99 = Field(
    "latency_us_p99", unit="us", better="lower", label="latency p99 (us)", fmt="{:.1f}"
)
LATENCY_CPU_REL = Field("latency_cpu_rel", unit="x ref", better="lower")  # gated, CPU
LATENCY_REL = Field("latency_rel", unit="x ref", better="lower")  # gated, CUDA
P99_CPU_US = Field("p99_cpu_us", unit="us", better="lower")  # the p99 budget
# the studies' "batch inference": evaluate() over the 10,000 test images, and its gate in the
# training lane (its on-CPU time over that of the same work written plainly: a ceiling)
TEST_PASS_S = Field(
    "test_pass_s", unit="s", better="lower", label="test-set pass (s)", fmt="{:.3f}"
)
TEST_PASS_COST = Field("test_pass_cost", unit="x forward", better="lower")
GPU_OPS = Field("gpu_ops_per_call", better="lower", label="GPU ops / call, batch 1", fmt="{:.0f}")

# --- instructions (callgrind) ------------------------------------------------------------------
INSTRUCTIONS = Field("instructions", better="lower")  # per call (forward) or per step (train)
INSTRUCTIONS_BUDGET = Field("instructions_budget", better="lower")  # ceiling at batch 1
INSTRUCTIONS_TOTAL = Field("instructions_total")  # the calls' or steps' count, as gated
# what the count left out: instructions the memory layout decides (measure/callgrind.py)
INSTRUCTIONS_LEFT_OUT = Field("instructions_left_out")
INSTRUCTIONS_PER_SAMPLE = Field(
    "instructions_per_sample", better="lower", label="instructions / sample, batch 1", fmt="{:,.0f}"
)

# --- memory ------------------------------------------------------------------------------------
TRAIN_PEAK = Field("train_peak_tensor_bytes", unit="B", better="lower")
TRAIN_RETAINED = Field("train_retained_tensor_bytes", unit="B", better="lower")
INFERENCE_PEAK = Field("inference_peak_tensor_bytes", unit="B", better="lower")
INFERENCE_RETAINED = Field("inference_retained_tensor_bytes", unit="B", better="lower")
INFERENCE_OPS = Field("inference_ops_per_call", better="lower")  # operators per forward pass

# --- data --------------------------------------------------------------------------------------
DATA_DIGEST = Field("data_digest")  # a number: the first 15 hex digits of the tensors' sha256
DATA_TRAIN_MEAN = Field("data_train_mean")
DATA_TRAIN_STD = Field("data_train_std")
DATA_TRAIN_IMAGES = Field("data_train_images")
DATA_VAL_IMAGES = Field("data_val_images")

# --- what the lanes record beside the gated figures (informative, not gated) -------------------
CALLS = Field("calls")  # forward passes counted per instruction case
STEPS = Field("steps")  # training steps counted or timed
TEST_IMAGES = Field("test_images")
TRAIN_SAMPLES = Field("train_samples")
TRAIN_CPU_SECONDS = Field("train_cpu_seconds", unit="s")
EPOCH_REL = Field("epoch_rel", unit="x ref")  # CUDA epoch per reference workload
REFERENCE = Field("reference", type="text")  # the reference workload a time is divided by
REFERENCE_CPU_S = Field("reference_cpu_s", unit="s")
REFERENCE_S = Field("reference_s", unit="s")
REFERENCE_GPU_S = Field("reference_gpu_s", unit="s")
LATENCY_MEDIAN_S = Field("latency_median_s", unit="s")
LATENCY_CPU_MEDIAN_S = Field("latency_cpu_median_s", unit="s")
LATENCY_US = Field("latency_us", unit="us")  # CUDA's median per call (older name)
PER_SAMPLE_US = Field("per_sample_us", unit="us")
THROUGHPUT = Field("throughput", unit="samples/s", better="higher")
SETUP_S = Field("setup_s", unit="s")  # compile or script time before the first call
TIMER = Field("timer", type="text")  # how a CUDA latency was timed (events)
TRAIN_ALLOCATIONS = Field("train_allocations")
INFERENCE_ALLOCATIONS = Field("inference_allocations")
RETENTION_CALLS = Field("retention_calls")
PEAK_RSS_MIB = Field("peak_rss_mib", unit="MiB")
PEAK_RSS_INCREASE_MIB = Field("peak_rss_increase_mib", unit="MiB")
TRAIN_PEAK_GPU = Field("train_peak_gpu_bytes", unit="B", better="lower")
TRAIN_RETAINED_GPU = Field("train_retained_gpu_bytes", unit="B", better="lower")
INFERENCE_PEAK_GPU = Field("inference_peak_gpu_bytes", unit="B", better="lower")
INFERENCE_RETAINED_GPU = Field("inference_retained_gpu_bytes", unit="B", better="lower")

# --- structures beside the figures (each has its own reader) -----------------------------------
GATES = Field("gates", type="object")  # metric name -> its declaration (gates/rules.Metric)
ATTRIBUTION = Field("attribution", type="object")  # metric -> what it is made of (attribution.py)
# the facts of the machine that recorded an entry (gates/keys.py), stored in the baseline
KEY_FACTS = Field("key_facts", type="object")
NOT_REPEATABLE = Field("not_repeatable", type="object")  # metric -> the two differing values
HISTORY = Field("history", type="object")  # per-epoch loss and validation accuracy
ENERGY_MODEL = Field("energy_model", type="object")  # the watts and grid intensity assumed

ALL: tuple[Field, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Field))
BY_NAME: dict[str, Field] = {str(f): f for f in ALL}
CONTEXT = (
    MODEL,
    RESOLUTION,
    DEVICE,
    MODE,
    RUN_ID,
    SERIES,
    STUDY,
    VERSION,
    KIND,
    BATCH_SIZE,
    THREADS,
    EPOCHS,
    SEED,
    INSTRUCTION_KEY,
    NUMERIC_PATH,
)
# figures a saved run must hold as finite numbers, and context it must hold as strings
NUMERIC = tuple(f for f in ALL if f.type == "number")
TEXT = tuple(f for f in ALL if f.type == "text")

# the studies' table, in column order; OPTIONAL columns appear only where some row has them
# (instructions and GPU operation counts come from the suite, not from studies)
TABLE_COLUMNS = (
    EPOCHS,
    TRAIN_SECONDS,
    EPOCH_SECONDS,
    LATENCY_P50,
    TEST_PASS_S,
    INSTRUCTIONS_PER_SAMPLE,
    GPU_OPS,
    ACCURACY,
    FLOPS,
    PARAMS,
    SIZE,
    TRAIN_CO2,
)
OPTIONAL_COLUMNS = (INSTRUCTIONS_PER_SAMPLE, GPU_OPS, TEST_PASS_S)  # TEST_PASS_S: newer runs
CSV_COLUMNS = (
    STUDY,
    RUN_ID,
    MODEL,
    RESOLUTION,
    SERIES,
    BATCH_SIZE,
    SEED,
    EPOCHS,
    TRAIN_SECONDS,
    EPOCH_SECONDS,
    LATENCY_P50,
    LATENCY_P90,
    LATENCY_P99,
    TEST_PASS_S,
    INSTRUCTIONS_PER_SAMPLE,
    GPU_OPS,
    ACCURACY,
    FLOPS,
    MACS,
    PARAMS,
    SIZE,
    SIZE_WITH_ADAM,
    TRAIN_ENERGY,
    TRAIN_CO2,
    THREADS,
    VERSION,
)


def field(name: str) -> Field:
    """The declared field of a stored key, or a KeyError naming it."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a declared field (mnist_models/fields.py)") from None
