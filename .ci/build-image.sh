#!/usr/bin/env bash
# Build the local "VM" image: Debian with systemd as PID 1, made with debootstrap + docker import
# (no container registry is reachable here). Cached by a content hash of its recipe: the image is
# tagged <repo>:<suite>-<hash> and <repo>:<suite>; when the hashed tag exists nothing is rebuilt.
#
#   .ci/build-image.sh [SUITE]          SUITE: bookworm (Debian 12, default) or trixie (Debian 13)
#
# Environment:
#   KIT_IMAGE_REPO      image repository name           (default: fastapi-kit/debian-systemd)
#   KIT_DEBIAN_MIRROR   Debian archive, plain http is fine (default: http://deb.debian.org/debian)
#   KIT_DEBIAN_SECURITY Debian security archive          (default: http://deb.debian.org/debian-security)
#   KIT_IMAGE_FORCE=1   rebuild even when the cached image exists
# Users who can pull images do not need this: point KIT_IMAGE_DEBIAN12 / KIT_IMAGE_DEBIAN13 at theirs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
suite="${1:-bookworm}"
repo="${KIT_IMAGE_REPO:-fastapi-kit/debian-systemd}"
mirror="${KIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${KIT_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$suite" in
  bookworm|trixie) ;;
  *) die "unknown suite '$suite': use bookworm (Debian 12) or trixie (Debian 13)" ;;
esac

# The recipe: this script, everything under image/, and the inputs that change what gets built.
recipe_hash="$(
  {
    cat "$here/build-image.sh"
    find "$here/image" -type f -print0 | sort -z | xargs -0 cat
    printf '%s\n' "$suite" "$mirror" "$security"
  } | sha256sum | cut -c1-12
)"
hashed_tag="$repo:$suite-$recipe_hash"
plain_tag="$repo:$suite"

"$here/ensure-docker.sh"

if [ "${KIT_IMAGE_FORCE:-0}" != 1 ] && docker image inspect "$hashed_tag" >/dev/null 2>&1; then
  docker tag "$hashed_tag" "$plain_tag"
  log "cached: $plain_tag = $hashed_tag"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
    || die "apt-get install debootstrap failed"
fi

workdir="$(mktemp -d /var/tmp/kit-image.XXXXXX)"
cleanup() {
  # debootstrap may leave /proc or /sys mounted inside the root on failure
  for m in proc sys dev/pts dev; do umount -l "$workdir/rootfs/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT

packages="$(grep -Ev '^\s*(#|$)' "$here/image/packages.txt" | paste -sd, -)"
log "debootstrap $suite from $mirror (packages: $packages); this takes a few minutes"
started=$SECONDS
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$workdir/rootfs" "$mirror" \
     >"$workdir/debootstrap.log" 2>&1; then
  tail -n 20 "$workdir/debootstrap.log" >&2
  die "debootstrap failed (is $mirror reachable?)"
fi

install -m 0644 "$here/image/kit-make-rshared.service" "$workdir/rootfs/etc/systemd/system/"
install -m 0755 "$here/image/customize.sh" "$workdir/rootfs/customize.sh"
chroot "$workdir/rootfs" /customize.sh "$suite" "$mirror" "$security"
rm -f "$workdir/rootfs/customize.sh"

log "importing into docker as $hashed_tag"
tar --numeric-owner --xattrs -C "$workdir/rootfs" -c . | docker import \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'ENV container=docker' \
  --message "fastapi-kit $suite systemd image, recipe $recipe_hash" \
  - "$hashed_tag" >/dev/null
docker tag "$hashed_tag" "$plain_tag"

# Drop older builds of this suite so they do not pile up.
docker image ls --format '{{.Repository}}:{{.Tag}}' "$repo" \
  | grep -E "^$repo:$suite-[0-9a-f]{12}$" | grep -vx "$hashed_tag" \
  | xargs -r docker image rm >/dev/null 2>&1 || true

log "built $plain_tag in $((SECONDS - started))s"
