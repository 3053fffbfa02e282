from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ripcord.cli import main
from ripcord.detect import default_registry
from ripcord.errors import SopError
from ripcord.sop import load
from tests.conftest import sop_data

EXAMPLE = Path(__file__).parents[2] / "examples" / "credit-risk.sop.yaml"


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def problems(tmp_path: Path, data: Any) -> list[str]:
    with pytest.raises(SopError) as info:
        load.load(write(tmp_path, data), default_registry())
    return [str(p) for p in info.value.problems]


def test_the_annotated_example_is_valid() -> None:
    sop = load.load(EXAMPLE, default_registry())
    assert sop.models["credit-risk"].slas.min_accuracy == 0.8
    assert sop.rollback.approvers == ("carol",)


def test_the_example_golden_set_is_what_the_demo_generates(tmp_path: Path) -> None:
    from ripcord.drills import credit

    fresh = credit.write_golden(tmp_path / "golden.csv")
    assert fresh.read_text() == (EXAMPLE.parent / "golden" / "credit-risk.csv").read_text()


def test_schema_problems_name_path_and_value(sop_file: Path, tmp_path: Path) -> None:
    data = sop_data()
    data["models"]["credit-risk"]["slas"]["p95_latency_ms"] = -5
    data["models"]["credit-risk"]["slas"]["min_accuracy"] = 1.5
    data["response"]["SEV-1"]["rollback"] = "sometimes"
    found = problems(tmp_path, data)
    assert "models.credit-risk.slas.p95_latency_ms: -5 is not > 0" in found
    assert "models.credit-risk.slas.min_accuracy: 1.5 is not <= 1" in found
    assert any(p.startswith("response.SEV-1.rollback: 'sometimes'") for p in found)


def test_cross_references_are_checked(sop_file: Path, tmp_path: Path) -> None:
    data = sop_data()
    model = data["models"]["credit-risk"]
    model["owner"] = "nobody"
    model["golden_set"]["path"] = "missing.csv"
    model["detectors"].append({"type": "telepathy"})
    model["detectors"].append({"type": "latency", "name": "lat2", "params": {"quantile": 1.5}})
    model["detectors"].append({"type": "latency", "name": "lat3", "params": {"bogus": 1}})
    data["teams"]["ml-credit"]["channels"] = ["pager"]
    found = problems(tmp_path, data)
    assert "models.credit-risk.owner: 'nobody' is not a defined team" in found
    assert any(
        p.startswith("models.credit-risk.golden_set.path: 'missing.csv' is not a file")
        for p in found
    )
    assert any(
        p.startswith("models.credit-risk.detectors[7].type: 'telepathy' is not one of")
        for p in found
    )
    assert any(p.startswith("models.credit-risk.detectors[8].quantile: 1.5") for p in found)
    assert any(p.startswith("models.credit-risk.detectors[9].params.bogus: 1") for p in found)
    assert "teams.ml-credit.channels[0]: 'pager' is not a defined channel" in found


def test_detector_names_must_be_unique(sop_file: Path, tmp_path: Path) -> None:
    data = sop_data()
    data["models"]["credit-risk"]["detectors"].append({"type": "confidence", "window": 50})
    assert any("detector name 'confidence' is used twice" in p for p in problems(tmp_path, data))


@pytest.mark.parametrize("text", ["models: [", "- just\n- a list\n", ""])
def test_unreadable_files_are_clear_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sop.yaml"
    path.write_text(text)
    with pytest.raises(SopError):
        load.load(path, default_registry())


def test_cli_validate_prints_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = sop_data()
    data["models"]["pricing"] = data["models"].pop("credit-risk")
    data["models"]["pricing"]["slas"]["p95_latency_ms"] = -5
    path = write(tmp_path, data)
    assert main(["sop", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "models.pricing.slas.p95_latency_ms: -5 is not > 0" in out


def test_cli_validate_summarises_a_valid_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sop", "validate", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "credit-risk" in out and "carol" in out


def test_cli_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sop", "validate", str(tmp_path / "nope.yaml")]) == 1
    assert "does not exist" in capsys.readouterr().out
