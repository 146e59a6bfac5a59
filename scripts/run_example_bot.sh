#!/usr/bin/env bash
# Trains the example bot (NLU and dialogue, NTMPolicy included) and talks to it in `rasa shell`,
# with the custom-action server running beside it. Usage: scripts/run_example_bot.sh [VENV]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/.venv}"
export RASA_TELEMETRY_ENABLED=false
cd "$root/example_bot"
"$venv/bin/rasa" train --config ../config.yml --domain domain.yml --data data --out models
VENV="$venv" "$root/scripts/run_actions.sh" 5055 > actions.log 2>&1 &
actions_pid=$!
trap 'kill $actions_pid 2>/dev/null || true' EXIT
"$venv/bin/rasa" shell -m models --endpoints endpoints.yml
