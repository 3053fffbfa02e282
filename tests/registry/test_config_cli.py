"""`ripcord config set|activate|history` and the parts of `ripcord rollback plan`, run through
the CLI's entry point on a real SQLite file in a temporary working folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ripcord.cli import main
from ripcord.drills.demo import MODEL
from tests.respond.test_parts import write_sop


@pytest.fixture
def sop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RIPCORD_DATABASE_URL", raising=False)
    return str(write_sop(tmp_path, ["pipeline", "prompt", "model"]))


def test_set_activate_and_history(
    sop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p1.yaml").write_text("income_unit: k\nfill_missing: median\n")
    (tmp_path / "p2.json").write_text('{"income_unit": "units"}')
    base = ["--actor", "alice", "--sop", sop]
    assert main(["config", "set", MODEL, "pipeline", "p1.yaml", *base, "--reason", "first"]) == 0
    assert "credit-risk/pipeline version r1: active" in capsys.readouterr().out
    assert main(["config", "set", MODEL, "pipeline", "p2.json", *base, "--no-activate"]) == 0
    assert "version r2: recorded, not active" in capsys.readouterr().out
    assert main(["config", "history", MODEL, "pipeline", "--format", "json", "--sop", sop]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [(h["version"], h["active"], h["parent"]) for h in history] == [
        ("r2", False, "r1"),
        ("r1", True, None),
    ]
    assert history[1]["reason"] == "first" and history[1]["created_by"] == "alice"
    assert main(["config", "activate", MODEL, "pipeline", "r2", *base]) == 0
    assert "r2 activated" in capsys.readouterr().out
    assert main(["config", "history", MODEL, "pipeline", "--sop", sop]) == 0
    assert "credit-risk/pipeline versions" in capsys.readouterr().out

    assert main(["rollback", "plan", MODEL, "--sop", sop]) == 0
    planned = capsys.readouterr().out
    assert "rollback parts, in order: pipeline → prompt → model" in planned
    assert "r1: active before r2 (never verified in service)" in planned
    assert "never activated: nothing to restore" in planned  # the prompt


def test_bad_input_is_named(sop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    base = ["--actor", "alice", "--sop", sop]
    assert main(["config", "set", MODEL, "pipeline", "list.yaml", *base]) == 1
    assert "FILE: 'list.yaml' holds a list, not a mapping" in capsys.readouterr().out
    assert main(["config", "set", MODEL, "pipeline", "none.yaml", *base]) == 1
    assert "FILE: 'none.yaml' is not a file" in capsys.readouterr().out
    (tmp_path / "ok.yaml").write_text("a: 1\n")
    assert main(["config", "set", MODEL, "features", "ok.yaml", *base]) == 1
    assert "'features' is not declared in the SOP file" in capsys.readouterr().out
    assert main(["config", "activate", MODEL, "pipeline", "r9", *base]) == 2
    assert "unknown version: 'credit-risk/pipeline@r9'" in capsys.readouterr().out
