#!/usr/bin/env bash
# Debian packages the hardware lab needs on the host, installed when missing.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "lab-deps: the lab needs root (containers, network namespaces); not installing" >&2
  exit 1
fi
packages=(debootstrap systemd-container tinyproxy iproute2 openssh-client debian-archive-keyring)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lab-deps: installing ${missing[*]}"
  # Keep maintainer scripts from starting the packaged tinyproxy (policy-rc.d, removed after).
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  trap '[ "$own_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
  # The lab runs its own proxy on its bridge; the packaged one is not needed.
  if [ -d /run/systemd/system ]; then systemctl disable --now tinyproxy >/dev/null 2>&1 || true; fi
fi
