#!/usr/bin/env bash
# Runs the example bot the way Rasa scales out, on loopback: the shared stores (PostgreSQL
# tracker store and Redis lock store, started by scripts/services.sh), one action server, and
# two `rasa run` servers that share them through example_bot/endpoints.cluster.yml. Put a load
# balancer in front of the servers; any of them can answer any turn of any conversation.
#
#   scripts/run_cluster.sh [MODEL]    # default: example_bot/models, trained first if empty
#
# Environment: VENV (default .venv), RASA_PORTS (default "5005 5006"), ACTION_PORT (default
# 5055). Runs until Ctrl-C or SIGTERM, then stops everything it started (the stores keep
# running; they hold the conversations).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv}"
ports="${RASA_PORTS:-5005 5006}"
action_port="${ACTION_PORT:-5055}"
export RASA_TELEMETRY_ENABLED=false
export ACTION_SERVER_URL="http://127.0.0.1:${action_port}/webhook"

"$root/scripts/services.sh"
cd "$root/example_bot"
model="${1:-}"
if [ -z "$model" ]; then
  model=models
  if ! ls models/*.tar.gz > /dev/null 2>&1; then
    "$venv/bin/rasa" train --config ../config.yml --domain domain.yml --data data --out models
  fi
fi

pids=()
stop() {
  trap - EXIT
  if [ "${#pids[@]}" -gt 0 ]; then
    kill "${pids[@]}" 2> /dev/null || true
    wait "${pids[@]}" 2> /dev/null || true
  fi
}
trap stop EXIT
trap 'exit 143' TERM INT

VENV="$venv" "$root/scripts/run_actions.sh" "$action_port" &
pids+=($!)
for port in $ports; do
  "$venv/bin/rasa" run -m "$model" --enable-api --port "$port" --credentials credentials.yml \
    --endpoints endpoints.cluster.yml &
  pids+=($!)
done
echo "rasa run on ports ${ports// /, } (REST: /webhooks/rest/webhook), actions on $action_port;" \
     "Ctrl-C stops them"
wait
