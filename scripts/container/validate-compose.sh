#!/usr/bin/env bash
# npm run validate:compose — checks docker-compose.yml and the configuration files it mounts, offline:
#   dclint      the Compose Specification's JSON schema (unknown keys, wrong types) + deploy/dclint.yaml's rules
#   compose     `docker compose config` / `podman-compose config` where one is installed that has the command
#   promtool    deploy/prometheus/prometheus.yml (Debian package prometheus), when installed
#   nginx -t    deploy/nginx/nginx.conf, when nginx is installed; with nginx < 1.27.3 (no `resolve` in an
#               upstream) that parameter is stripped and `api` pointed at 127.0.0.1 for the check
set -euo pipefail
cd "$(dirname "$0")/../.."
PASSED=0 FAILED=0
run() {
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then PASSED=$((PASSED + 1)); echo "ok    $what"
  else FAILED=$((FAILED + 1)); echo "FAIL  $what"; echo "$out" | sed 's/^/      /'; fi
}

run "docker-compose.yml: compose schema and lint rules (dclint)" npx --no-install dclint -c deploy/dclint.yaml docker-compose.yml

if docker compose version >/dev/null 2>&1; then
  run "docker compose config" docker compose -f docker-compose.yml config --quiet
elif command -v podman-compose >/dev/null 2>&1 && podman-compose --help 2>&1 | grep -qw config; then
  run "podman-compose config" podman-compose -f docker-compose.yml config
else
  echo "skip  compose config: neither 'docker compose' nor a podman-compose with 'config' is installed"
fi

if command -v promtool >/dev/null 2>&1; then
  run "deploy/prometheus/prometheus.yml (promtool check config)" promtool check config deploy/prometheus/prometheus.yml
else
  echo "skip  promtool not installed (Debian: apt-get install prometheus)"
fi

NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [ -n "$NGINX" ]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  mkdir -p "$dir/conf.d"
  version=$("$NGINX" -v 2>&1 | sed -n 's#.*nginx/\([0-9.]*\).*#\1#p')
  conf=$(sed "s#include /etc/nginx/conf.d/\*.conf;#include $dir/conf.d/*.conf;#" deploy/nginx/nginx.conf)
  note=""
  if [ "$(printf '%s\n1.27.3\n' "$version" | sort -V | head -n 1)" != 1.27.3 ]; then
    conf=$(printf '%s' "$conf" | sed 's# resolve max_fails# max_fails#; s#server api:8080#server 127.0.0.1:8080#')
    note=" (nginx $version: without 'resolve')"
  fi
  printf '%s\n' "$conf" >"$dir/nginx.conf"
  sed 's/${NGINX_LOCAL_RESOLVERS}/127.0.0.11/' deploy/nginx/templates/resolver.conf.template >"$dir/conf.d/resolver.conf"
  run "deploy/nginx/nginx.conf (nginx -t)$note" "$NGINX" -t -q -c "$dir/nginx.conf" -e /dev/null
else
  echo "skip  nginx not installed"
fi

echo "compose: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
