#!/usr/bin/env bash
# The test suite, with everything it needs. On Debian as root it installs the oracle
# tools (systemctl/systemd-analyze, debootstrap, setpriv, systemd-nspawn) and builds two
# real bookworm roots once (cached in target/): one for the systemctl differential tests,
# one that boots under systemd-nspawn for the live `fix` test. Elsewhere the tests that
# need those say they are skipped. TIMERGUARD_SKIP_LIVE=1 leaves out the live test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v systemctl >/dev/null 2>&1 || need+=(systemd)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Real consumers of our output, pinned: a JUnit parser and ansible-core (PyPI) for the
# report and Ansible-role tests, Microsoft's SARIF Multitool (npm) for the SARIF test.
# A failed install fails the run: CI must not skip these tests silently.
py_need=()
python3 -c "import junitparser" >/dev/null 2>&1 || py_need+=("junitparser==5.0.3")
python3 -c "import ansible" >/dev/null 2>&1 || py_need+=("ansible-core==2.19.14")
if [ ${#py_need[@]} -gt 0 ]; then
  python3 -m pip install -q --disable-pip-version-check "${py_need[@]}"
fi
scripts_dir="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
if [ -x "$scripts_dir/ansible-playbook" ]; then
  export TIMERGUARD_ANSIBLE_PLAYBOOK="$scripts_dir/ansible-playbook"
fi
tools="$PWD/target/tools"
mt="$tools/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
if [ ! -e "$mt" ] && command -v npm >/dev/null 2>&1; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error @microsoft/sarif-multitool-linux@5.7.0 >/dev/null
fi
if [ -e "$mt" ]; then
  chmod u+x "$mt" # npm 11 does not run the package's postinstall (which does this)
  export TIMERGUARD_SARIF_MULTITOOL="$mt"
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

# A root that boots (systemd as init, dbus and pam_systemd for logind and linger).
e2e="$PWD/target/e2e-root"
if [ "${TIMERGUARD_SKIP_LIVE:-}" != 1 ] && [ "$(id -u)" = 0 ] && command -v systemd-nspawn >/dev/null 2>&1; then
  if [ ! -e "$e2e/.timerguard-complete" ]; then
    echo "building a bootable bookworm root for the live test in $e2e (about a minute)" >&2
    rm -rf "$e2e.tmp"
    if debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libpam-systemd bookworm "$e2e.tmp" >"$e2e.log" 2>&1; then
      rm -rf "$e2e" && mv "$e2e.tmp" "$e2e" && touch "$e2e/.timerguard-complete"
    else
      echo "debootstrap failed (see $e2e.log); the live test will be skipped" >&2
    fi
  fi
  if [ -e "$e2e/.timerguard-complete" ]; then
    export TIMERGUARD_E2E_ROOT="$e2e"
  fi
fi

cargo test --locked --all-targets
