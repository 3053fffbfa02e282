"""MLflow pyfunc models as Ripcord Predictors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ripcord.registry.base import Scored

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel


class MlflowPredictor:
    """An MLflow pyfunc model as a Predictor.

    Predictions come from the pyfunc model (with MLflow's schema enforcement). Confidence is
    the largest class probability when the model is an sklearn flavour with
    `predict_proba`, as for `SklearnPredictor`; otherwise None.
    """

    def __init__(self, model: PyFuncModel, estimator: Any | None, features: Sequence[str]) -> None:
        self.model = model
        self.estimator = estimator if hasattr(estimator, "predict_proba") else None
        self.features = tuple(features)

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Scored]:
        import pandas as pd

        if not rows:
            return []
        features = self.features or tuple(rows[0])
        missing = [f for f in features if f not in rows[0]]
        if missing:
            raise ValueError(f"features: {missing!r} are missing from the input row")
        frame = pd.DataFrame.from_records(
            [[row[f] for f in features] for row in rows], columns=list(features)
        )
        predictions = _plain(self.model.predict(frame))
        confidences = self._confidences(frame)
        return [Scored(p, c) for p, c in zip(predictions, confidences, strict=True)]

    def _confidences(self, frame: Any) -> list[float | None]:
        if self.estimator is None:
            return [None] * len(frame)
        # An estimator fitted on bare arrays warns on named columns; give it what it knows.
        named = hasattr(self.estimator, "feature_names_in_")
        proba = self.estimator.predict_proba(frame if named else frame.to_numpy())
        return [float(p.max()) for p in proba]


def _plain(output: Any) -> list[Any]:
    """pyfunc output (array, Series, DataFrame or list) as a list of plain values."""
    if getattr(output, "ndim", 1) == 2 and hasattr(output, "iloc"):
        output = output.iloc[:, 0]  # a DataFrame answer: its first column is the prediction
    values = output.tolist() if hasattr(output, "tolist") else list(output)
    return [v.item() if hasattr(v, "item") else v for v in values]


def open_pyfunc(folder: Path) -> MlflowPredictor:
    """Load a downloaded MLflow model folder with the pyfunc loader (and the sklearn one
    too when it is an sklearn flavour, for its class probabilities)."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(folder))
    estimator = None
    if "sklearn" in model.metadata.flavors:
        import mlflow.sklearn

        estimator = mlflow.sklearn.load_model(str(folder))
    schema = model.metadata.get_input_schema()
    names = schema.input_names() if schema is not None and schema.has_input_names() else []
    return MlflowPredictor(model, estimator, [str(n) for n in names])
