# shellcheck shell=bash
# Sourced by the image scripts: buildah and podman on a machine without a
# Docker daemon, as root, sharing one image store under $TICKETING_HOME.
#   * vfs storage (no overlay mounts needed), cgroupfs (no systemd), runc;
#   * containers.conf sets `default_ulimits = []`: without it the runtime's
#     setrlimit for the default nofile limit is refused on these machines.
# Both tools read CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, so one set of
# files configures build and run alike.
TICKETING_HOME="${TICKETING_HOME:-$HOME/.cache/ticketing}"
containers_dir="$TICKETING_HOME/containers"
mkdir -p "$containers_dir/storage" "$containers_dir/run"
# Written to a temporary file and renamed: a buildah or skopeo of a parallel
# test reading the file meanwhile sees the whole old or new content, never a
# truncated one ("The storage 'driver' option must be set").
cat >"$containers_dir/containers.conf.$$" <<CONF
[containers]
default_ulimits = []
netns = "host"

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
CONF
mv -f "$containers_dir/containers.conf.$$" "$containers_dir/containers.conf"
cat >"$containers_dir/storage.conf.$$" <<CONF
[storage]
driver = "vfs"
graphroot = "$containers_dir/storage"
runroot = "$containers_dir/run"
CONF
mv -f "$containers_dir/storage.conf.$$" "$containers_dir/storage.conf"
export CONTAINERS_CONF="$containers_dir/containers.conf"
export CONTAINERS_STORAGE_CONF="$containers_dir/storage.conf"

# One image build at a time on this store: parallel tests (nextest runs
# test binaries side by side) build and remove images in the same vfs store,
# and concurrent commits there have failed now and then. Call before
# building; the lock is released when the shell exits.
lock_image_store() {
  exec 9>"$containers_dir/build.lock"
  flock 9
}
