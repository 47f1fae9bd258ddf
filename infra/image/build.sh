#!/usr/bin/env bash
# Builds the platform's one OCI image (all six services; the task
# definition's command picks the service) with buildah, from scratch: no base
# image is pulled. The root filesystem is what the build produces:
#   /usr/local/bin/ticketing     the binary (the six services)
#   /usr/local/bin/opsctl        opsctl, which the ops task runs inside the VPC
#   the shared libraries they link, at the paths `ldd` names (glibc, libgcc_s)
#   /etc/ssl/certs/ca-certificates.crt   CA bundle (PortOne over HTTPS)
#   /etc/ticketing/rds-ca-bundle.pem     RDS's CAs (verify-full to the database;
#                                        infra/image/rds-ca-bundle.py writes it)
#   /etc/passwd, /etc/group      a non-root user `ticketing` (10001)
# USER 10001, ENTRYPOINT ["/usr/local/bin/ticketing"], port 8080.
#
#   infra/image/build.sh                      # release build, tag ticketing:latest
#   infra/image/build.sh --binary PATH --opsctl PATH --tag T
#                                               # already built binaries (tests: the debug ones)
#   infra/image/build.sh --archive PATH         # also write it as an OCI archive (CI: one build,
#                                               # `opsctl deploy --image oci-archive:PATH` per environment)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=infra/image/containers.sh
source "$here/containers.sh"

log() { printf '[image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

binary=""
opsctl=""
tag="ticketing:latest"
archive=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --opsctl) opsctl="${2:?--opsctl needs a path}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a name}"; shift 2 ;;
    --archive) archive="${2:?--archive needs a path}"; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

command -v buildah >/dev/null 2>&1 || die "buildah is not installed; run infra/local/install-tools.sh"

target="${CARGO_TARGET_DIR:-$repo/target}"
if [[ -z "$binary" && -z "$opsctl" ]]; then
  log "building the release binaries (cargo build --release -p ticketing -p opsctl)"
  (cd "$repo" && cargo build --release --locked -p ticketing -p opsctl)
  binary="$target/release/ticketing"
  opsctl="$target/release/opsctl"
fi
[[ -n "$binary" ]] || die "--opsctl was given without --binary; pass both, or neither to build them"
[[ -n "$opsctl" ]] || die "--binary was given without --opsctl; pass both, or neither to build them"
[[ -x "$binary" ]] || die "no executable binary at $binary; build it first (cargo build --release -p ticketing) or pass --binary"
[[ -x "$opsctl" ]] || die "no executable opsctl at $opsctl; build it first (cargo build --release -p opsctl) or pass --opsctl"

ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -f "$ca_bundle" ]] || die "no CA bundle at $ca_bundle; install Debian's ca-certificates"

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
rds_bundle="$here/rds-ca-bundle.pem"
[[ -f "$rds_bundle" ]] || die "no RDS CA bundle at $rds_bundle; write it with infra/image/rds-ca-bundle.py"

mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/etc/ticketing" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp "$binary" "$rootfs/usr/local/bin/ticketing"
cp "$opsctl" "$rootfs/usr/local/bin/opsctl"
cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
# The path is ticketing_config::RDS_CA_BUNDLE_PATH (config/dev.toml, prod.toml).
cp "$rds_bundle" "$rootfs/etc/ticketing/rds-ca-bundle.pem"

# Every library the binaries link, and the dynamic loader, at their paths.
libs="$(ldd "$binary" "$opsctl" | awk '/=> \// { print $3 } /^[[:space:]]*\/.*ld-linux/ { print $1 }' | sort -u)"
missing="$(ldd "$binary" "$opsctl" | awk '/not found/ { print $1 }')"
[[ -z "$missing" ]] || die "the binaries link libraries this machine lacks: $missing"
for lib in $libs; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done

printf 'root:x:0:0:root:/root:/sbin/nologin\nticketing:x:10001:10001:ticketing:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nticketing:x:10001:\n' >"$rootfs/etc/group"

lock_image_store
container="$(buildah from scratch)"
cleanup() { buildah rm "$container" >/dev/null 2>&1 || true; rm -rf "$rootfs"; }
trap cleanup EXIT
buildah copy --quiet "$container" "$rootfs" / >/dev/null
buildah config \
  --user 10001:10001 \
  --entrypoint '["/usr/local/bin/ticketing"]' \
  --cmd '["serve"]' \
  --port 8080 \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --label org.opencontainers.image.title=ticketing \
  --label "org.opencontainers.image.revision=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  "$container"
buildah commit --quiet --rm "$container" "$tag" >/dev/null
size="$(buildah images --format '{{.Size}}' "$tag" | head -1)"
if [[ -n "$archive" ]]; then
  rm -f "$archive"
  buildah push --quiet "$tag" "oci-archive:$archive:$tag" >/dev/null
  log "wrote $archive (oci-archive; deploy it with: opsctl deploy --image oci-archive:$archive)"
fi
log "built $tag ($size): $(find "$rootfs" -type f | wc -l) files: the binary, $(wc -w <<<"$libs") libraries, CA bundle, passwd/group"
echo "$tag"
