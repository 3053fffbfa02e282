"""The peer drift tools of `batch_drift.py --peers`, each run by its own venv's python.

benchmarks/peers.sh builds the venvs under benchmarks/.venvs/; a peer whose venv is absent
is skipped. Each runner (benchmarks/peers/NAME_run.py) builds the same seeded tables with
`drift_data`, converts them to the form its tool takes (not timed), and prints one JSON
line: compute seconds (fitting the reference included), peak RSS and the flagged columns.
The runners make no network call; the environment below also switches the tools'
telemetry off.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from drift_data import TRUTH
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
PEERS = {  # name: what runs, at the tool's defaults unless said
    "evidently": "Evidently 0.7.23 DataDriftPreset",
    "nannyml": "NannyML 0.13.1 UnivariateDriftCalculator, 10k-row chunks",
    "alibi": "Alibi Detect 0.13.0 TabularDrift, Bonferroni, p 0.05",
}
QUIET = {
    "DO_NOT_TRACK": "1",  # Evidently's documented opt-out
    "NML_DISABLE_USAGE_LOGGING": "1",  # NannyML's documented opt-out
    "HF_HUB_OFFLINE": "1",  # alibi-detect imports transformers
    "TRANSFORMERS_OFFLINE": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
TIMEOUT_S = 1800


def installed() -> list[str]:
    return [name for name in PEERS if (HERE / ".venvs" / name / "bin" / "python").exists()]


def run_peer(name: str, rows: int) -> dict[str, Any]:
    python = HERE / ".venvs" / name / "bin" / "python"
    command = [str(python), str(HERE / "peers" / f"{name}_run.py"), "--rows", str(rows)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, **QUIET},
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT_S} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {tail[:160]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def attach(result: dict[str, Any], peers: list[str]) -> None:
    """Run each peer at this result's size and set what it found beside Ripcord's and scipy's."""
    result["peers"] = {}
    for name in peers:
        out = run_peer(name, result["rows"])
        if "error" not in out:
            out["same"] = sorted(out["flagged"]) == sorted(result["sp"]["flagged"])
            out["same_data"] = out["fingerprint"] == result["sp"]["fingerprint"]
        result["peers"][name] = out


def _times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"


def _fit(out: dict[str, Any]) -> str:
    return "-" if out.get("fit_s") is None else f"{out['fit_s']:.2f}"


def _flags(flagged: list[str]) -> str:
    missed = sorted(set(TRUTH) - set(flagged))
    extra = sorted(set(flagged) - set(TRUTH))
    text = f"{len(TRUTH) - len(missed)}/{len(TRUTH)} TP, {len(extra)} FP"
    if missed:
        text += f"; missed {' '.join(missed)}"
    if extra:
        text += f"; extra {' '.join(extra)}"
    return text


def render(results: list[dict[str, Any]], console: Console) -> None:
    rows = [(r, name, out) for r in results for name, out in r.get("peers", {}).items()]
    if not rows:
        return
    table = Table(title="Peers, each in its own venv and subprocess (one timed run)")
    for column in ("N", "tool", "s (fit s)", "Ripcord speed-up", "peak RSS MB (data)",
                   "flags vs truth", "same as scipy", "same data"):  # fmt: skip
        table.add_column(column, justify="right")
    for r, name, out in rows:
        if "error" in out:
            table.add_row(f"{r['rows']:,}", name, out["error"], *[""] * 5)
            continue
        table.add_row(
            f"{r['rows']:,}",
            name,
            f"{out['seconds']:.2f} ({_fit(out)})",
            _times(out["seconds"] / r["rc"]["seconds"]),
            f"{out['rss_mb']:.0f} ({out['data_rss_mb']:.0f})",
            _flags(out["flagged"]),
            "yes" if out["same"] else "no",
            "yes" if out["same_data"] else "NO",
        )
    console.print(table)
    for name in sorted({name for _, name, _ in rows}):
        console.print(f"{name}: {PEERS[name]}")


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-size keys for every peer that ran, and unsuffixed ones at the largest such size."""
    out: dict[str, Any] = {}
    top: dict[str, Any] = {f"{name}_s": None for name in PEERS}
    top.update({f"speedup_vs_{name}": None for name in PEERS})
    for r in results:
        for name, peer in r.get("peers", {}).items():
            key = r["label"]
            if "error" in peer:
                out[f"{name}_error_{key}"] = peer["error"]
                continue
            tp = len(set(peer["flagged"]) & set(TRUTH))
            figures = {
                f"{name}_s": round(peer["seconds"], 4),
                f"{name}_fit_s": None if peer["fit_s"] is None else round(peer["fit_s"], 4),
                f"speedup_vs_{name}": round(peer["seconds"] / r["rc"]["seconds"], 1),
                f"{name}_rss_mb": round(peer["rss_mb"], 1),
                f"{name}_true_positives": tp,
                f"{name}_false_positives": len(set(peer["flagged"]) - set(TRUTH)),
                f"{name}_flagged": sorted(peer["flagged"]),
                f"{name}_same_flags_as_scipy": peer["same"],
                f"{name}_same_data": peer["same_data"],
            }
            out.update({f"{k}_{key}": v for k, v in figures.items()})
            top.update(figures, peer_rows=r["rows"])
    return {**top, **out}
