#!/usr/bin/env bash
# Makes the two base images the Dockerfile builds from, locally, for machines that reach no container registry
# (only Debian's mirror and the npm registry), and tags them with the public names the Dockerfile uses:
#
#   docker.io/library/node:24-bookworm            build stages: Debian bookworm + python3/make/g++ + Node 24 + npm
#   gcr.io/distroless/nodejs24-debian12:nonroot   runtime: glibc, libstdc++, CA certificates, tzdata, Node 24 at
#                                                 /nodejs/bin/node, user 65532 — no shell, no package manager
#
# Both come from Debian bookworm (debootstrap) and the Node.js binary of the npm package node-linux-<arch>@24,
# so they are the same OS and Node major as the public images, on this machine's architecture. Where a registry
# is reachable, none of this is needed: the Dockerfile pulls the real images.
#
# Usage: scripts/container/make-base-images.sh [--force]     (root; installs debootstrap/podman when missing)
# Env:   NODE_MAJOR (24), NPM_MAJOR (11), DEBIAN_MIRROR (the host's Debian mirror, else deb.debian.org),
#        IMAGE_ARCH (amd64 | arm64; default this machine's — another one needs qemu-user-static + binfmt),
#        BUILD_BASE_IMAGE / RUNTIME_BASE_IMAGE (other names, e.g. for a second architecture's stand-ins)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/container/lib.sh
. scripts/container/lib.sh

FORCE=false
[ "${1:-}" = --force ] && FORCE=true
NODE_MAJOR=${NODE_MAJOR:-24}
NPM_MAJOR=${NPM_MAJOR:-11}
SUITE=bookworm

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and podman import need it)"
ensure_podman
ensure_containers_conf

need_build=true need_runtime=true
if ! $FORCE; then
  podman image exists "$BUILD_BASE_IMAGE" && need_build=false
  podman image exists "$RUNTIME_BASE_IMAGE" && need_runtime=false
fi
if ! $need_build && ! $need_runtime; then
  log "base images present: $BUILD_BASE_IMAGE, $RUNTIME_BASE_IMAGE (--force to remake)"
  exit 0
fi

command -v debootstrap >/dev/null 2>&1 || {
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null
}

if [ -z "${DEBIAN_MIRROR:-}" ]; then
  # The mirror this machine's apt already uses (deb822 or one-line sources), else Debian's CDN.
  DEBIAN_MIRROR=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
    grep -v security | head -n 1 | awk '{print $2}' || true)
  DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi

WORK=$(mktemp -d /var/tmp/todo-base.XXXXXX)
cleanup() {
  # debootstrap leaves /proc and /sys mounted when it fails half-way
  for m in proc sys dev/pts dev; do umount -l "$WORK/rootfs/$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

IMAGE_ARCH=${IMAGE_ARCH:-$(debian_arch)}
ARCH=$(node_arch "$IMAGE_ARCH")
log "fetching Node.js $NODE_MAJOR ($ARCH) and npm $NPM_MAJOR from the npm registry"
(cd "$WORK" && npm pack --silent "node-linux-$ARCH@$NODE_MAJOR" "npm@$NPM_MAJOR" >/dev/null)
mkdir -p "$WORK/node" "$WORK/npm"
tar -xzf "$WORK"/node-linux-"$ARCH"-*.tgz -C "$WORK/node" --strip-components=1
tar -xzf "$WORK"/npm-*.tgz -C "$WORK/npm" --strip-components=1
NODE_VERSION=v$(node -p 'require(process.argv[1]).version' "$WORK/node/package.json")
NPM_VERSION=$(node -p 'require(process.argv[1]).version' "$WORK/npm/package.json")
log "node $NODE_VERSION, npm $NPM_VERSION"

ROOT=$WORK/rootfs
log "debootstrap $SUITE (minbase + python3, make, g++) from $DEBIAN_MIRROR"
debootstrap --arch="$IMAGE_ARCH" --variant=minbase --include=python3,make,g++,ca-certificates,tzdata,netbase \
  "$SUITE" "$ROOT" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
  { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

# ---------------------------------------------------------------------------------------------------------
# Runtime image, modelled on distroless nodejs: only the files of the packages Node needs, no shell.
# ---------------------------------------------------------------------------------------------------------
if $need_runtime; then
  log "assembling the runtime rootfs (distroless-like)"
  RT=$WORK/runtime
  mkdir -p "$RT"/{etc/ssl/certs,tmp,home/nonroot,nodejs/bin,var/lib/dpkg/status.d,usr/share}
  chmod 1777 "$RT/tmp"
  # usrmerge: /lib, /lib64, /bin, /sbin are symlinks into /usr in bookworm; make them first, keep them on extract
  for l in lib lib64 bin sbin; do
    if [ -L "$ROOT/$l" ]; then cp -a "$ROOT/$l" "$RT/$l"; mkdir -p "$RT/$(readlink -f "$ROOT/$l" | sed "s#^$ROOT/##")"; fi
  done
  RUNTIME_PKGS="libc6 libgcc-s1 libstdc++6 tzdata netbase base-files"
  # shellcheck disable=SC2086
  chroot "$ROOT" dpkg-query -L $RUNTIME_PKGS |
    grep '^/' | grep -vE '^/usr/share/(doc|man|info|lintian|locale)(/|$)|/gconv(/|$)|^/\.$|^$' | sed 's#^/#./#' | sort -u |
    tar -C "$ROOT" --no-recursion -cf - -T - | tar -C "$RT" --keep-directory-symlink -xf -
  for pkg in $RUNTIME_PKGS; do chroot "$ROOT" dpkg-query -s "$pkg" >"$RT/var/lib/dpkg/status.d/$pkg"; done
  # CA bundle from Debian's Mozilla set only (nothing of this host's own trust store).
  cat "$ROOT"/usr/share/ca-certificates/mozilla/*.crt >"$RT/etc/ssl/certs/ca-certificates.crt"
  cat >"$RT/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
  cat >"$RT/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
GROUP
  printf 'hosts: files dns\n' >"$RT/etc/nsswitch.conf"
  chown 65532:65532 "$RT/home/nonroot"
  cp "$WORK/node/bin/node" "$RT/nodejs/bin/node"
  cp "$WORK/node/LICENSE" "$RT/nodejs/LICENSE"
  tar -C "$RT" --numeric-owner -c . | podman import --quiet --os linux --arch "$IMAGE_ARCH" \
    --change 'USER 65532:65532' \
    --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENTRYPOINT ["/nodejs/bin/node"]' \
    --message "local stand-in for $RUNTIME_BASE_IMAGE: Debian $SUITE libc/libstdc++ + node $NODE_VERSION" \
    - "$RUNTIME_BASE_IMAGE" >/dev/null
  log "made $RUNTIME_BASE_IMAGE ($(podman image inspect --format '{{.Size}}' "$RUNTIME_BASE_IMAGE" | numfmt --to=iec))"
fi

# ---------------------------------------------------------------------------------------------------------
# Build image, like the official node:<major>-bookworm: the toolchain for native addons, Node, npm, user node.
# ---------------------------------------------------------------------------------------------------------
if $need_build; then
  log "assembling the build rootfs (node:$NODE_MAJOR-bookworm-like)"
  mkdir -p "$ROOT/usr/local/lib/node_modules" "$ROOT/usr/local/include" "$ROOT/usr/local/share"
  cp "$WORK/node/bin/node" "$ROOT/usr/local/bin/node"
  cp -a "$WORK/node/include/node" "$ROOT/usr/local/include/node"
  [ -d "$WORK/node/share" ] && cp -a "$WORK/node/share/." "$ROOT/usr/local/share/"
  cp -a "$WORK/npm" "$ROOT/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
  chroot "$ROOT" groupadd --gid 1000 node
  chroot "$ROOT" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  # Local-only: trust the certificate authorities this host trusts, so npm inside a build reaches the registry
  # the same way the host does (a machine behind a TLS-inspecting proxy). The public image has no such thing.
  if [ -d /usr/local/share/ca-certificates ] && ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
    chroot "$ROOT" update-ca-certificates >/dev/null 2>&1
  fi
  chroot "$ROOT" apt-get clean
  rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/var/cache/debconf/*-old \
    "$ROOT"/var/log/*.log "$ROOT"/tmp/*
  printf 'nameserver 127.0.0.1\n' >"$ROOT/etc/resolv.conf" # replaced by the container engine at run time
  for m in proc sys dev/pts dev; do umount -l "$ROOT/$m" 2>/dev/null || true; done
  tar -C "$ROOT" --numeric-owner -c . | podman import --quiet --os linux --arch "$IMAGE_ARCH" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=${NODE_VERSION#v}" \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["node"]' \
    --message "local stand-in for $BUILD_BASE_IMAGE: Debian $SUITE + python3/make/g++ + node $NODE_VERSION + npm $NPM_VERSION" \
    - "$BUILD_BASE_IMAGE" >/dev/null
  log "made $BUILD_BASE_IMAGE ($(podman image inspect --format '{{.Size}}' "$BUILD_BASE_IMAGE" | numfmt --to=iec))"
fi
