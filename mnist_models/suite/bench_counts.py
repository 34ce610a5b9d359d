"""Parameters, MACs, FLOPs and size of every grid config: exact, against the formulas and the
baseline. Instant: no training; the timed part is one FlopCounterMode pass."""

from __future__ import annotations

import pytest

from .. import fields
from ..gates.rules import exact
from ..measure.metrics import count_params, flop_counts, size_bytes
from ..zoo.models.module import ModuleConfig
from .grid import Case, architecture_cases

pytestmark = [
    pytest.mark.not_a_timing("a counting pass"),
    pytest.mark.counts,
    pytest.mark.gate,
    pytest.mark.full,
]

PARAMS = exact(fields.PARAMS)
MACS = exact(fields.MACS)
FLOPS = exact(fields.FLOPS)
SIZE = exact(fields.SIZE, "B")
SIZE_WITH_ADAM = exact(fields.SIZE_WITH_ADAM, "B")


@pytest.mark.benchmark(group="counts")
@pytest.mark.parametrize("case", architecture_cases(), ids=lambda c: c.id)
def test_counts(case: Case, benchmark, gate) -> None:
    config = case.config
    model = config.build()
    macs, per_layer = benchmark.pedantic(
        flop_counts, args=(model, case.input_shape), rounds=1, iterations=1
    )
    params = count_params(model)
    assert params == config.params, f"analytic params {config.params:,} != module {params:,}"
    assert macs == config.macs, f"analytic MACs {config.macs:,} != FlopCounterMode {macs:,}"
    if not isinstance(config, ModuleConfig):  # a user's module: its layers are measured
        assert per_layer == {layer.name: layer.macs for layer in config.layers() if layer.macs}
    benchmark.extra_info.update({fields.MODEL: config.id, fields.RESOLUTION: case.res.id})
    gate.record(PARAMS, params)
    gate.record(MACS, macs)
    gate.record(FLOPS, 2 * macs)
    gate.record(SIZE, size_bytes(model))
    gate.record(SIZE_WITH_ADAM, size_bytes(model, with_optimizer=True))
