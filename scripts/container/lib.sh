#!/usr/bin/env bash
# Shared by scripts/container/*.sh: makes sure podman/buildah are installed and configured for this kind of
# machine (root, no systemd, cgroup v1, runc), and names the base images the Dockerfile builds from.

# The names the Dockerfile uses. make-base-images.sh tags its locally made images with exactly these, so the
# real Dockerfile builds unchanged where no registry is reachable.
BUILD_BASE_IMAGE=${BUILD_BASE_IMAGE:-docker.io/library/node:24-bookworm}
RUNTIME_BASE_IMAGE=${RUNTIME_BASE_IMAGE:-gcr.io/distroless/nodejs24-debian12:nonroot}

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs podman, buildah and runc from Debian's packages when they are missing (only as root with apt-get).
ensure_podman() {
  if command -v podman >/dev/null 2>&1 && command -v buildah >/dev/null 2>&1; then return 0; fi
  command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] ||
    die "podman and buildah are needed (Debian: apt-get install podman buildah runc)"
  log "installing podman, buildah, runc (Debian packages)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    podman buildah runc uidmap fuse-overlayfs slirp4netns netavark aardvark-dns iptables >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        podman buildah runc uidmap fuse-overlayfs slirp4netns netavark aardvark-dns iptables >/dev/null; }
}

# /etc/containers/containers.conf must say: [engine] runtime="runc" and
# [containers] default_ulimits=["nofile=1024:1024","nproc=1024:1024"]. Creates the file, or sets just these two
# keys in an existing one (other settings are kept). Root only; otherwise only checks and warns.
ensure_containers_conf() {
  local conf=/etc/containers/containers.conf
  if [ "$(id -u)" != 0 ]; then
    grep -qs '^ *runtime *= *"runc"' "$conf" || log "warning: $conf does not set runtime=\"runc\""
    return 0
  fi
  mkdir -p /etc/containers
  [ -f "$conf" ] || printf '# Written by scripts/container/lib.sh (todo-service).\n' >"$conf"
  local tmp
  tmp=$(mktemp)
  awk '
    function flush_section() {
      if (section == "engine" && !seen_runtime) { print "runtime = \"runc\""; seen_runtime = 1 }
      if (section == "containers" && !seen_ulimits) { print ulimits; seen_ulimits = 1 }
    }
    BEGIN { ulimits = "default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]" }
    /^[ \t]*\[[^]]+\][ \t]*$/ {
      flush_section()
      section = $0; gsub(/[ \t\[\]]/, "", section)
      if (section == "engine") seen_engine_header = 1
      if (section == "containers") seen_containers_header = 1
      print; next
    }
    section == "engine" && /^[ \t]*runtime[ \t]*=/ { print "runtime = \"runc\""; seen_runtime = 1; next }
    section == "containers" && /^[ \t]*default_ulimits[ \t]*=/ {
      # a multi-line array: skip to its closing bracket
      while ($0 !~ /\]/ && (getline line) > 0) $0 = line
      print ulimits; seen_ulimits = 1; next
    }
    { print }
    END {
      flush_section()
      if (!seen_engine_header && !seen_runtime) { print ""; print "[engine]"; print "runtime = \"runc\"" }
      if (!seen_containers_header && !seen_ulimits) { print ""; print "[containers]"; print ulimits }
    }
  ' "$conf" >"$tmp"
  if ! cmp -s "$tmp" "$conf"; then
    log "setting runtime=runc and default_ulimits in $conf"
    cat "$tmp" >"$conf"
  fi
  rm -f "$tmp"
}

# The Node.js name of a Debian/OCI architecture (the npm package node-linux-<arch>); default: this machine's.
node_arch() {
  case "${1:-$(uname -m)}" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "unsupported architecture ${1:-$(uname -m)}" ;;
  esac
}

# The Debian/OCI name of this machine's architecture.
debian_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "unsupported architecture $(uname -m)" ;;
  esac
}
