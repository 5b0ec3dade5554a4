#!/usr/bin/env bash
# Proves the README's two commands on a fresh machine: debootstraps a Debian 12 root
# (minbase and ca-certificates, nothing else), copies in only this machine's Rust
# toolchain (~/.rustup, ~/.cargo/bin) and a clean clone of this repository, then runs,
# chrooted with CI=1 (every test must run, none may be skipped):
#     bash scripts/test.sh
#     cargo run --release -- check
# and prints how long each took. Needs root and debootstrap. `scripts/fresh-debian.sh DIR`
# (default: a new temporary directory; removed at the end unless KEEP=1).
#
# The machine's own network set-up is carried in too: its extra CA certificates
# (/usr/local/share/ca-certificates) and the variables that point tools at the bundle,
# as any machine behind such a proxy has them.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$(mktemp -d /var/tmp/timerguard-fresh.XXXXXX)}"
root="$dir/root"
cleanup() {
  umount -R "$root" 2>/dev/null || true
  [ "${KEEP:-}" = 1 ] || rm -rf "$dir"
}
trap cleanup EXIT

echo "debootstrap bookworm into $root" >&2
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" >"$dir/debootstrap.log" 2>&1
mkdir -p "$root/root/.cargo" "$root/usr/local/share/ca-certificates"
cp -a "$HOME/.rustup" "$root/root/"
cp -a "$HOME/.cargo/bin" "$root/root/.cargo/"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$root" update-ca-certificates >/dev/null 2>&1
git clone -q "$repo" "$root/root/timerguard"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A mount point of its own, with the host's /proc, /sys (cgroups) and /dev: what
# systemd-nspawn needs to boot the live test's container from inside the chroot.
mount --bind "$root" "$root"
mount --rbind /proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root"
cat >"$root/root/readme.sh" <<'EOF'
#!/bin/bash
export HOME=/root PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin CI=1
for v in SSL_CERT_FILE CURL_CA_BUNDLE PIP_CERT REQUESTS_CA_BUNDLE NODE_EXTRA_CA_CERTS GIT_SSL_CAINFO; do
  export "$v=/etc/ssl/certs/ca-certificates.crt"
done
cd /root/timerguard
t=$(date +%s); bash scripts/test.sh >/root/test.log 2>&1; rc=$?
echo "bash scripts/test.sh: exit $rc in $(( $(date +%s) - t )) s ($(grep -c '\.\.\. ok$' /root/test.log) tests ok, $(grep -c 'FAILED$' /root/test.log) failed)"
t=$(date +%s); cargo run --release -- check >/root/check.log 2>&1; rc2=$?
echo "cargo run --release -- check: exit $rc2 in $(( $(date +%s) - t )) s: $(tail -1 /root/check.log)"
exit $(( rc | rc2 ))
EOF
chmod +x "$root/root/readme.sh"
chroot "$root" /root/readme.sh
