#!/usr/bin/env bash
# npm run test:e2e — the production topology without containers (scripts/e2e/rolling-restart.mjs): two service
# processes on loopback behind nginx, Prometheus scraping both, on this machine's PostgreSQL and Redis; a rolling
# restart under load must lose no request and no write.
#
# Installs what is missing from Debian's packages (as root): nginx, prometheus, and PostgreSQL/Redis when they
# are not there at all; starts PostgreSQL/Redis when they are installed but stopped. Then builds and runs.
# Env: see rolling-restart.mjs (E2E_DB=postgres|sqlite, E2E_CONCURRENCY, E2E_NGINX_KEEPALIVE, …); E2E_SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/../.."

apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || { echo "missing: $* (install them)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

[ -x /usr/sbin/nginx ] || apt_install nginx-light
[ -x /usr/bin/prometheus ] || apt_install prometheus

if [ "${E2E_DB:-postgres}" = postgres ]; then
  command -v psql >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1 || apt_install postgresql
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
    for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.2; done
  fi
fi

[ "${E2E_SKIP_BUILD:-}" = 1 ] || npm run build --silent
exec node scripts/e2e/rolling-restart.mjs
