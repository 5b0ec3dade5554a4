#!/usr/bin/env bash
# The test suite, with everything it needs. On Debian as root it installs the oracle
# tools (systemctl/systemd-analyze, debootstrap, setpriv) and builds a real bookworm root
# once (cached in target/debian-root) for the systemctl differential test. Elsewhere the
# tests that need those tools say they are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v systemctl >/dev/null 2>&1 || need+=(systemd)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

deb="${TIMERGUARD_DEBIAN_ROOT:-$PWD/target/debian-root}"
if [ ! -e "$deb/.timerguard-complete" ] && [ "$(id -u)" = 0 ] && command -v debootstrap >/dev/null 2>&1; then
  echo "building a Debian bookworm root for the oracle tests in $deb (about a minute)" >&2
  rm -rf "$deb.tmp"
  mkdir -p "$(dirname "$deb")"
  if debootstrap --variant=minbase --include=systemd,logrotate,man-db,e2fsprogs,apt bookworm "$deb.tmp" >"$deb.log" 2>&1; then
    rm -rf "$deb" && mv "$deb.tmp" "$deb" && touch "$deb/.timerguard-complete"
  else
    echo "debootstrap failed (see $deb.log); the Debian oracle test will be skipped" >&2
  fi
fi
if [ -e "$deb/.timerguard-complete" ]; then
  export TIMERGUARD_DEBIAN_ROOT="$deb"
fi

cargo test --locked --all-targets
