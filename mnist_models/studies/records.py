"""A study's rows as records: `StudyRow`, one run as a study shows it (the stored RunRecord, the
study's series, its key in the run store, the latency timed side by side), and `LatencyRecord`,
one side-by-side timing. `to_dict` is what results.json holds; `table_row` what tables show."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

from .. import fields
from ..measure.record import RunRecord

VIEW_FIELDS = ("key", "series", "study_latency")  # a study's own fields beside the record's


@dataclass(frozen=True)
class LatencyRecord:
    """One (run id, batch size) timed side by side: p50/p90/p99 per call in us, each the median
    over the rounds of that round's figure, and how it was timed."""

    p50_us: float
    p90_us: float
    p99_us: float
    per_sample_us: float
    batch_size: int
    rounds: int
    calls: int
    threads: int
    round_p50_us: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> LatencyRecord:
        """A cached timing read back; a missing field is a KeyError (the entry is retimed)."""
        return cls(**{f.name: entry[f.name] for f in dataclass_fields(cls)})


@dataclass(frozen=True)
class StudyRow:
    """One run of a study. The record stays as the run measured it; `batch1` (and `batched`, at
    the training batch size where the study varies it) are the study's side-by-side timings,
    which its tables report instead of the run's own latency (studies/latency.py says why)."""

    record: RunRecord
    key: str = ""
    series: str = ""
    batch1: LatencyRecord | None = None
    batched: LatencyRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {**self.record.to_dict(), "key": self.key, "series": self.series}
        if self.batch1 is not None:
            out["study_latency"] = {"batch1": self.batch1.to_dict()}
            if self.batched is not None:
                out["study_latency"]["batched"] = self.batched.to_dict()
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> StudyRow:
        """A row of results.json; rows from before the side-by-side field load without it."""
        study = row.get("study_latency") or {}
        return cls(
            RunRecord.from_dict({k: v for k, v in row.items() if k not in VIEW_FIELDS}),
            key=row.get("key", ""),
            series=row.get("series", ""),
            batch1=LatencyRecord.from_dict(study["batch1"]) if "batch1" in study else None,
            batched=LatencyRecord.from_dict(study["batched"]) if "batched" in study else None,
        )

    def table_row(self) -> dict[str, Any]:
        """The row as the tables, CSV and plots show it: the side-by-side latency where the study
        timed one (`latency_shared`: one timing serves every seed, so it has no spread)."""
        row = self.to_dict()
        if self.batch1 is None:
            return row
        return {
            **row,
            fields.LATENCY_P50: self.batch1.p50_us,
            fields.LATENCY_P90: self.batch1.p90_us,
            fields.LATENCY_P99: self.batch1.p99_us,
            "latency_batched": (
                self.batched.to_dict() if self.batched is not None else row["latency_batched"]
            ),
            "latency_shared": True,
        }
