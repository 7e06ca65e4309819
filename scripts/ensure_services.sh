#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer for the tests: start them with this machine's own commands
# when they are installed but down; stop with a clear message when they cannot be had.
set -u
PGHOST_ADDR="${PGHOST:-127.0.0.1}"
PGPORT_NUM="${PGPORT:-5432}"
REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"

pg_up() { pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM" >/dev/null 2>&1; }
redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
  else
    (exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT" && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null
  fi
}

if ! command -v pg_isready >/dev/null 2>&1; then
  echo "ensure_services: PostgreSQL client tools are not installed (pg_isready missing)." >&2
  echo "  Install PostgreSQL (apt-get install postgresql) or set DATABASE_URL to a reachable server." >&2
  exit 1
fi
if ! pg_up; then
  echo "ensure_services: PostgreSQL is down on $PGHOST_ADDR:$PGPORT_NUM; starting it."
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  if ! pg_up; then
    echo "ensure_services: FAILED: PostgreSQL does not answer on $PGHOST_ADDR:$PGPORT_NUM and could not be started." >&2
    exit 1
  fi
fi
echo "ensure_services: PostgreSQL answers on $PGHOST_ADDR:$PGPORT_NUM."

if ! redis_up; then
  echo "ensure_services: Redis is down on $REDIS_HOST:$REDIS_PORT; starting it."
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
  if ! redis_up; then
    echo "ensure_services: FAILED: Redis does not answer on $REDIS_HOST:$REDIS_PORT and could not be started." >&2
    exit 1
  fi
fi
echo "ensure_services: Redis answers on $REDIS_HOST:$REDIS_PORT."
