#!/usr/bin/env bash
# podman with the repo's container configuration (infra/image/containers.sh):
# the same image store buildah builds into, vfs, cgroupfs, runc.
#   infra/image/podman.sh run --rm --network host ticketing:latest --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=infra/image/containers.sh
source "$here/containers.sh"
command -v podman >/dev/null 2>&1 || { echo "[image] error: podman is not installed; run infra/local/install-tools.sh" >&2; exit 2; }
exec podman "$@"
