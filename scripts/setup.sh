#!/usr/bin/env bash
# Installs what Nimbus needs to build and test on Debian 12: system packages (compiler for the addon and the test
# guests, ACPI and QEMU tools for the tests), npm packages, the native addon, and the Linux test guest artifacts.
# Idempotent; run as root or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential python3 acpica-tools qemu-system-x86 xz-utils zstd lz4 cpio iproute2 time)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
npm run build
node scripts/linux-guest/build.mjs
