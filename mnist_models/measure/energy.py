"""Energy and CO2eq estimates from time and cores: an explicit formula, not a measurement."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

# Energy and CO2eq: energy = power x time x PUE; CO2eq = energy (kWh) x grid carbon intensity.
# Defaults follow Green Algorithms (Lannelongue, Grealey & Inouye, Advanced Science 2021):
# a CPU core draws about its share of the chip's TDP, 12 W when the model is unknown, and the
# world-average grid intensity is 475 gCO2e/kWh. Override both for your hardware and region.
WATTS_PER_CORE = 12.0
GRID_G_PER_KWH = 475.0
# A GPU is counted at its board power limit the whole time it trains (Green Algorithms counts
# TDP too): 700 W is an H100 SXM's. Override with --watts-per-gpu for your card.
WATTS_PER_GPU = 700.0


@dataclass(frozen=True)
class EnergyModel:
    """The explicit formula behind every energy and CO2eq figure."""

    watts_per_core: float = WATTS_PER_CORE
    grid_g_per_kwh: float = GRID_G_PER_KWH
    pue: float = 1.0
    watts_per_gpu: float = WATTS_PER_GPU

    def __post_init__(self) -> None:
        for name in ("watts_per_core", "grid_g_per_kwh", "watts_per_gpu"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.pue < 1:
            raise ConfigError(f"pue must be >= 1, got {self.pue}")

    def joules(self, seconds: float, cores: int, gpus: int = 0) -> float:
        """Energy of `seconds` on `cores` CPU cores and `gpus` GPUs."""
        return (self.watts_per_core * cores + self.watts_per_gpu * gpus) * seconds * self.pue

    def co2_grams(self, seconds: float, cores: int, gpus: int = 0) -> float:
        return self.joules(seconds, cores, gpus) / 3.6e6 * self.grid_g_per_kwh
