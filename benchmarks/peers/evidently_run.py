"""Evidently's DataDriftPreset at its defaults, in Evidently's venv (benchmarks/peers.sh).

The column types are declared (20 numerical, 2 categorical), so none is guessed; the
preset then picks its own methods and thresholds (at these sizes: normed Wasserstein
distance >= 0.1 for numerical columns, Jensen-Shannon distance >= 0.1 for categorical
ones, no multiple-test correction). A column counts as flagged when Evidently's own
"Value Drift" test for it fails. Timed: wrapping the DataFrames as Evidently Datasets and
running the report.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry opt-out

import common
import evidently
import pandas as pd
from drift_data import CATEGORICAL, NUMERIC
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def prepare(ref: common.Tables, cur: common.Tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(ref), pd.DataFrame(cur)


def detect(frames: tuple[pd.DataFrame, pd.DataFrame]) -> Any:
    schema = DataDefinition(numerical_columns=list(NUMERIC), categorical_columns=list(CATEGORICAL))
    reference = Dataset.from_pandas(frames[0], data_definition=schema)
    current = Dataset.from_pandas(frames[1], data_definition=schema)
    report = Report([DataDriftPreset()], include_tests=True)
    return report.run(current_data=current, reference_data=reference)


def read(snapshot: Any) -> dict[str, Any]:
    result = snapshot.dict()
    flagged, methods = [], {}
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        if test["id"] == "drift" and "column" in params:
            methods[params["column"]] = f"{params['method']} >= {params['threshold']}"
            if test["status"] == "FAIL":
                flagged.append(params["column"])
    counted = next(m["value"]["count"] for m in result["metrics"] if isinstance(m["value"], dict))
    if int(counted) != len(flagged):
        raise RuntimeError(f"{len(flagged)} failed tests but {counted} drifted columns counted")
    return {"flagged": flagged, "methods": sorted(set(methods.values()))}


if __name__ == "__main__":
    common.run("evidently", evidently.__version__, prepare, detect, read)
