#!/usr/bin/env bash
# Gate an image root before it ships: run `timerguard check` over it with the built-in
# policies (and yours), write SARIF (code scanning), JUnit (test reports) and JSON, print
# the text report, and exit with check's code:
#   0 pass · 1 findings at or above the fail-on severity · 2 usage/input error · 3 a policy failed
#
# usage: gate.sh IMAGE [OUTDIR]
#   IMAGE   an image root directory (debootstrap, mkosi, a mounted disk image), or a tar
#           archive of one (.tar, .tar.gz, .tgz, .tar.zst: `docker export`, `podman export`,
#           `buildah`'s rootfs), extracted here with owners and modes kept.
#   OUTDIR  where the reports go (default: ./timerguard-reports).
# Environment (all optional):
#   TIMERGUARD           the binary (default: timerguard on PATH)
#   TIMERGUARD_CONFIG    a config file (waivers, parameters, fail_on; `timerguard init`)
#   TIMERGUARD_POLICIES  a directory of your own policies (*.rhai)
#   TIMERGUARD_BASELINE  a baseline file: fail only on findings not recorded in it
#   TIMERGUARD_FAIL_ON   critical|high|medium|low|info (default: config, else high)
set -euo pipefail

image="${1:?usage: gate.sh IMAGE [OUTDIR]}"
out="${2:-timerguard-reports}"
tg="${TIMERGUARD:-timerguard}"
mkdir -p "$out"

root="$image"
if [ -f "$image" ]; then
  # An exported container filesystem. Owners and modes are facts the policies judge, so
  # they must survive extraction: that needs root (tar keeps owners only for root).
  if [ "$(id -u)" != 0 ]; then
    echo "gate.sh: warning: not root, so tar cannot keep the archive's owners; ownership findings will be wrong (run under sudo)" >&2
  fi
  root="$(mktemp -d "${TMPDIR:-/tmp}/timerguard-image.XXXXXX")"
  trap 'rm -rf "$root"' EXIT
  case "$image" in
    *.tar.zst|*.tzst) zstd -dc "$image" | tar -x --numeric-owner -p -C "$root" -f - ;;
    *) tar -x --numeric-owner -p -C "$root" -f "$image" ;; # tar detects gzip/xz/bzip2 itself
  esac
elif [ ! -d "$image" ]; then
  echo "gate.sh: $image is neither a directory nor a file" >&2
  exit 2
fi

args=(--root "$root")
[ -n "${TIMERGUARD_CONFIG:-}" ] && args+=(--config "$TIMERGUARD_CONFIG")
[ -n "${TIMERGUARD_POLICIES:-}" ] && args+=(--policies "$TIMERGUARD_POLICIES")
check=(check --format text
  --report "sarif=$out/timerguard.sarif"
  --report "junit=$out/timerguard.junit.xml"
  --report "json=$out/timerguard.json")
[ -n "${TIMERGUARD_BASELINE:-}" ] && check+=(--baseline "$TIMERGUARD_BASELINE")
[ -n "${TIMERGUARD_FAIL_ON:-}" ] && check+=(--fail-on "$TIMERGUARD_FAIL_ON")

set +e
"$tg" "${args[@]}" "${check[@]}"
code=$?
set -e
case "$code" in
  0) echo "gate.sh: PASS ($image)" >&2 ;;
  1) echo "gate.sh: FAIL: findings at or above the fail-on severity ($image); reports in $out" >&2 ;;
  3) echo "gate.sh: ERROR: a policy failed to run; reports in $out" >&2 ;;
  *) echo "gate.sh: ERROR: timerguard exited $code" >&2 ;;
esac
exit "$code"
