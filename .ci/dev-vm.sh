#!/usr/bin/env bash
# Start (or reuse) a throwaway systemd container standing in for a VM, for developing one role
# by hand outside Molecule. Same flags as the Molecule scenario; ports bind 127.0.0.1 only.
#
#   .ci/dev-vm.sh NAME [bookworm|trixie]         start NAME and wait for systemd to be up
#   .ci/dev-vm.sh --rm NAME                      remove it
#
# Then:  ansible-playbook -i 'NAME,' -c community.docker.docker playbook.yml
#        pytest --hosts=docker://NAME molecule/default/tests/test_x.py
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ "${1:-}" = "--rm" ]; then
  docker rm -f "${2:?name}" >/dev/null 2>&1 || true
  exit 0
fi
name="${1:?usage: dev-vm.sh NAME [bookworm|trixie]}"
suite="${2:-bookworm}"
case "$suite" in
  bookworm) image="${KIT_IMAGE_DEBIAN12:-fastapi-kit/debian-systemd:bookworm}" ;;
  trixie) image="${KIT_IMAGE_DEBIAN13:-fastapi-kit/debian-systemd:trixie}" ;;
  *) echo "dev-vm: unknown suite $suite" >&2; exit 1 ;;
esac

"$here/ensure-docker.sh"
docker image inspect "$image" >/dev/null 2>&1 || "$here/build-image.sh" "$suite"

if [ -z "$(docker ps -q --filter "name=^${name}$")" ]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --hostname "$name" \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run:exec,mode=755 --tmpfs /run/lock --tmpfs /tmp:exec,mode=1777 \
    --stop-signal SIGRTMIN+3 -e container=docker \
    -p 127.0.0.1::80 -p 127.0.0.1::443 \
    "$image" /lib/systemd/systemd >/dev/null
fi
state="$(docker exec "$name" systemctl is-system-running --wait 2>/dev/null || true)"
echo "dev-vm: $name ($image) is $state; ports: $(docker port "$name" | tr '\n' ' ')"
