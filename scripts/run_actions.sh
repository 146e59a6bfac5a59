#!/usr/bin/env bash
# The example bot's custom-action server (`rasa run actions`) on PORT, from example_bot/.
#
#   scripts/run_actions.sh [PORT]    # default 5055; VENV (default .venv) picks the environment
#
# It keeps idle connections open for 120 s, where Sanic's default is 5 s. Rasa keeps its
# connections to the action server open for reuse for up to 15 s (aiohttp's keep-alive). With
# the server closing them sooner, a request that Rasa sends on a connection at the moment the
# server closes it fails ("Cannot write to closing transport"): Rasa logs the error, goes on,
# and the action's events are lost. Under load that happened to about 1 conversation in 10.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv}"
export RASA_TELEMETRY_ENABLED=false
export SANIC_KEEP_ALIVE_TIMEOUT="${SANIC_KEEP_ALIVE_TIMEOUT:-120}"
cd "$root/example_bot"
exec "$venv/bin/rasa" run actions --actions actions --port "${1:-5055}"
