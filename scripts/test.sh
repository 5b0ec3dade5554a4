#!/usr/bin/env bash
# The test suite with everything it needs, from a fresh Debian 12 machine that has only
# the Rust toolchain. As root on Debian it installs:
#   - apt: gcc (the linker rustc needs), systemd (systemctl, systemd-analyze: the
#     oracles), systemd-container
#     (systemd-nspawn, the live test), debootstrap, util-linux (setpriv, script), tzdata,
#     rpm (rpmbuild), dbus-daemon (the live view's D-Bus client against a real bus),
#     python3 + python3-venv, and nodejs + npm when missing;
#   - a virtualenv (target/tools/venv) with junitparser and ansible-core, pinned;
#   - Microsoft's SARIF Multitool from npm, pinned (target/tools);
#   - the rustfmt and clippy components;
# and builds three Debian bookworm roots once (cached in target/): one for the systemctl
# differential tests, a server with the packages that ship timers, and one that boots
# under systemd-nspawn for the live `fix` test.
# Under CI (`CI` set) every test must run: a tool or root that is missing fails the run
# instead of being skipped (TIMERGUARD_REQUIRE_ALL). TIMERGUARD_SKIP_LIVE=1 leaves out the
# live test (outside CI).
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/target/tools"
mkdir -p "$tools"
root_user=false
[ "$(id -u)" = 0 ] && root_user=true

if [ -n "${CI:-}" ]; then
  export TIMERGUARD_REQUIRE_ALL=1
  unset TIMERGUARD_SKIP_LIVE
fi

# --- system packages ----------------------------------------------------------------
echo "[test.sh $(date +%T)] packages" >&2
need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev) # Rust's linker
command -v systemctl >/dev/null 2>&1 || need+=(systemd)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
command -v rpmbuild >/dev/null 2>&1 || need+=(rpm)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
{ command -v setpriv && command -v script; } >/dev/null 2>&1 || need+=(util-linux bsdutils)
[ -e /usr/share/zoneinfo/Europe/Berlin ] || need+=(tzdata)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
command -v chroot >/dev/null 2>&1 || need+=(coreutils)
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus-daemon) # the live view's client against a real bus
if [ ${#need[@]} -gt 0 ]; then
  if $root_user && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing (install them, or run as root on Debian): ${need[*]}" >&2
  fi
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "[test.sh $(date +%T)] venv and npm" >&2
# --- Python: a virtualenv with the report consumers (Debian refuses a system pip) ------
venv="$tools/venv"
if [ ! -x "$venv/bin/ansible-playbook" ] || ! "$venv/bin/python" -c 'import junitparser' >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "junitparser==5.0.3" "ansible-core==2.19.14"
fi
export TIMERGUARD_PYTHON="$venv/bin/python"
export TIMERGUARD_ANSIBLE_PLAYBOOK="$venv/bin/ansible-playbook"

# --- npm: the SARIF validator -----------------------------------------------------------
mt="$tools/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
if [ ! -e "$mt" ]; then
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error @microsoft/sarif-multitool-linux@5.7.0 >/dev/null
fi
chmod u+x "$mt" # npm 11 does not run the package's postinstall (which does this)
export TIMERGUARD_SARIF_MULTITOOL="$mt"
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 # a minimal Debian has no libicu

# --- Debian roots (debootstrap, as root; each cached once complete) ----------------------
# build_root DIR PACKAGES: a bookworm minbase root with PACKAGES; a failure stops the run.
build_root() {
  local dir=$1 pkgs=$2
  [ -e "$dir/.timerguard-complete" ] && return 0
  if ! $root_user; then
    echo "not root: $dir is not built (debootstrap needs root)" >&2
    return 0
  fi
  echo "building a Debian bookworm root in $dir (a minute or two)" >&2
  rm -rf "$dir.tmp"
  if ! debootstrap --variant=minbase --include="$pkgs" bookworm "$dir.tmp" >"$dir.log" 2>&1; then
    echo "debootstrap failed for $dir (see $dir.log)" >&2
    tail -20 "$dir.log" >&2
    return 1
  fi
  rm -rf "$dir" && mv "$dir.tmp" "$dir" && touch "$dir/.timerguard-complete"
}

# The three roots are built at the same time, and the tests compiled meanwhile: each is
# mostly waiting on the network or the disk.
echo "[test.sh $(date +%T)] roots and test build" >&2
deb="$PWD/target/debian-root"
srv="$PWD/target/server-root"
e2e="$PWD/target/e2e-root"
pids=()
build_root "$deb" systemd,logrotate,man-db,e2fsprogs,apt &
pids+=($!)
# A server: the Debian packages that ship timers (python3-cffi-backend: debootstrap's
# resolver misses certbot's virtual dependency on it).
build_root "$srv" systemd,passwd,cron,logrotate,man-db,apt,e2fsprogs,util-linux,dpkg,sysstat,anacron,unattended-upgrades,plocate,php-common,exim4-base,mdadm,btrfs-progs,smartmontools,certbot,python3-cffi-backend,fwupd,ntpsec &
pids+=($!)
# A root that boots (systemd as init, dbus and pam_systemd for logind and linger).
if [ "${TIMERGUARD_SKIP_LIVE:-}" != 1 ]; then
  build_root "$e2e" systemd,systemd-sysv,dbus,libpam-systemd &
  pids+=($!)
fi
built=0
cargo test --locked --all-targets --no-run || built=$?
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ "$built" = 0 ] || exit "$built"
[ "$failed" = 0 ] || exit 1
[ -e "$deb/.timerguard-complete" ] && export TIMERGUARD_DEBIAN_ROOT="$deb"
[ -e "$srv/.timerguard-complete" ] && export TIMERGUARD_SERVER_ROOT="$srv"
if [ "${TIMERGUARD_SKIP_LIVE:-}" != 1 ] && [ -e "$e2e/.timerguard-complete" ]; then
  export TIMERGUARD_E2E_ROOT="$e2e"
fi

echo "[test.sh $(date +%T)] tests" >&2
cargo test --locked --all-targets
