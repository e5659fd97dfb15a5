#!/bin/sh
# Runs inside the debootstrapped root (chroot) to turn it into a bootable systemd "VM".
set -eu
suite="$1"
mirror="$2"
security="$3"

cat >/etc/apt/sources.list <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
SOURCES

# Keep the image small the way Debian's cloud images do, but keep man pages and docs out.
printf 'APT::Install-Recommends "false";\n' >/etc/apt/apt.conf.d/90kit-no-recommends

# A fresh machine id at every boot, as a cloned VM image would have.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id

# Units that have nothing to do (or fail) in a container: no consoles, no kernel filesystems to mount.
for unit in getty.target console-getty.service dev-hugepages.mount sys-fs-fuse-connections.mount \
            systemd-remount-fs.service systemd-firstboot.service; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done

mkdir -p /etc/systemd/system/sysinit.target.wants
ln -sf /etc/systemd/system/kit-make-rshared.service \
  /etc/systemd/system/sysinit.target.wants/kit-make-rshared.service

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /tmp/* /var/tmp/*
