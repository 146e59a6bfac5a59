#!/usr/bin/env bash
# Starts, on loopback only, the stores several `rasa run` servers share: PostgreSQL 15 as the
# tracker store (role and database "rasa", password "rasa") and Redis as the lock store (port
# 6379). Idempotent: what already runs is left as it is. Needs root (apt-get, the postgres user).
# Used by .ci/run and by tests/integration/test_scale_out.py.
set -euo pipefail

if ! command -v redis-server > /dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server > /dev/null
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping > /dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save "" --appendonly no \
    --logfile /tmp/rasa-ntm-policy-redis.log
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster 15 main start
fi
for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
psql_postgres() { su postgres -c "psql -v ON_ERROR_STOP=1 -tAc \"$1\""; }
if [ -z "$(psql_postgres "SELECT 1 FROM pg_roles WHERE rolname = 'rasa'")" ]; then
  psql_postgres "CREATE ROLE rasa LOGIN PASSWORD 'rasa'"
fi
if [ -z "$(psql_postgres "SELECT 1 FROM pg_database WHERE datname = 'rasa'")" ]; then
  su postgres -c "createdb -O rasa rasa"
fi
for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping > /dev/null 2>&1 && break; sleep 1; done
redis-cli -h 127.0.0.1 -p 6379 ping > /dev/null
echo "services: PostgreSQL on 127.0.0.1:5432 (database rasa), Redis on 127.0.0.1:6379"
