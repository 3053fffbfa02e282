#!/usr/bin/env bash
# Peer drift tools for `benchmarks/batch_drift.py --peers`, each in a venv of its own under
# benchmarks/.venvs/ so none of them becomes a dependency of Ripcord or of each other:
#   bash benchmarks/peers.sh                    # all three
#   bash benchmarks/peers.sh evidently nannyml  # some of them
# Idempotent: a venv that exists and imports its tool is left alone (delete it to rebuild).
# Pins are the versions the benchmark's figures were measured with (see shared PEERS.md):
#   evidently 0.7.23 fails to import with pandas 3; alibi-detect 0.13.0 needs numpy<2 and
#   pandas<3. Telemetry: Evidently and NannyML send usage data by default; both are switched
#   off by the environment variables below (the benchmark's runners set them too).
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
venvs="$here/.venvs"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
export DO_NOT_TRACK=1 NML_DISABLE_USAGE_LOGGING=1

pins() {
  case "$1" in
    evidently) echo "evidently==0.7.23 pandas<3" ;;
    nannyml) echo "nannyml==0.13.1 statsmodels" ;;  # imports statsmodels, not declared
    alibi) echo "alibi-detect==0.13.0 numpy<2 pandas<3" ;;
    *) return 1 ;;
  esac
}

module() {
  case "$1" in
    evidently) echo "evidently" ;;
    nannyml) echo "nannyml" ;;
    alibi) echo "alibi_detect" ;;
  esac
}

install_peer() {
  local name="$1" venv="$venvs/$1" spec mod
  spec="$(pins "$name")" || { echo "unknown peer: $name (evidently, nannyml, alibi)" >&2; return 2; }
  mod="$(module "$name")"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import $mod" 2>/dev/null; then
    echo "$name: $venv exists and imports $mod; skipped"
    return 0
  fi
  echo "$name: installing $spec into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv" || return 1
  "$venv/bin/python" -m pip install --quiet --upgrade pip || return 1
  # shellcheck disable=SC2086  # $spec is a list of requirement specifiers
  "$venv/bin/python" -m pip install --quiet $spec || return 1
  "$venv/bin/python" -c "import $mod; print('$name: imports', $mod.__name__)" || return 1
}

mkdir -p "$venvs"
failed=()
for name in "${@:-evidently nannyml alibi}"; do
  for one in $name; do
    install_peer "$one" || failed+=("$one")
  done
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
