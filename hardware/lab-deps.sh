#!/usr/bin/env bash
# Debian packages the hardware lab needs on the host, installed when missing.
set -euo pipefail
packages=(debootstrap systemd-container tinyproxy iproute2 openssh-client debian-archive-keyring)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lab-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # The lab runs its own proxy on its bridge; the packaged one is not needed.
  if [ -d /run/systemd/system ]; then systemctl disable --now tinyproxy >/dev/null 2>&1 || true; fi
fi
