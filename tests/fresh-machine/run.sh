#!/usr/bin/env bash
# The README's first command on a fresh Debian 12: builds a minimal Debian 12 root from the
# archive (debootstrap --variant=minbase: apt, dpkg, bash and coreutils, nothing of the suite's),
# copies a clean clone of this repository's HEAD into it, and runs `bash harness/quickstart.sh
# --smoke` inside it as root (chroot in a private mount namespace; no container engine). The
# install and the build are the real ones; --smoke only cuts the sweep to one tiny point, whose
# CSV, figures and report are then checked. So a package the install list misses fails here,
# whatever the host has installed.
#
# The bare root is cached as a tarball under ATTN_FRESH_CACHE (default
# /var/cache/attnbench/fresh-machine), keyed by the debootstrap command, the mirror and a hash of
# harness/install-deps.sh, so any change to the install list builds it anew;
# downloaded .deb files are kept beside it under the same key (apt still resolves and installs
# every package in the root). Where the root cannot be built (not root, no archive) it prints
# SKIPPED with the reason and succeeds.
#   tests/fresh-machine/run.sh            (ATTN_FRESH_KEEP=1 keeps the root for a look)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
suite=bookworm
mirror=${ATTN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${ATTN_FRESH_CACHE:-/var/cache/attnbench/fresh-machine}

log() { printf '== %s: fresh machine: %s\n' "$(date +%H:%M:%S)" "$*"; }
skip() {
  echo "==================================================================="
  echo "SKIPPED: fresh-machine test of the first command: $*"
  echo "==================================================================="
  exit 0
}

[[ $(id -u) -eq 0 ]] || skip "building a Debian root and chroot into it needs root"
if ! command -v debootstrap >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends debootstrap; } >/tmp/attn-fresh-apt.log 2>&1 ||
    skip "apt-get could not install debootstrap (log: /tmp/attn-fresh-apt.log)"
fi

bootstrap=(debootstrap --variant=minbase "$suite")
key=$( { echo "${bootstrap[*]} $mirror"; cat harness/install-deps.sh; } |
  sha256sum | cut -c1-16)
tarball=$cache/minbase-$suite-$key.tar
debs=$cache/debs-$key
mkdir -p "$cache" "$debs/partial"
# Stale keys are removed, so the cache holds one root.
find "$cache" -mindepth 1 -maxdepth 1 ! -name "minbase-$suite-$key.tar" ! -name "debs-$key" \
  -exec rm -rf {} +

work=$(mktemp -d /var/tmp/attn-fresh.XXXXXX)
rootfs=$work/root
cleanup() {
  local status=$?
  if [[ $status -ne 0 ]]; then
    echo "FAILED: fresh-machine test (log: $work/quickstart.log)"
    tail -40 "$work/quickstart.log" 2>/dev/null || true
  fi
  if [[ -z ${ATTN_FRESH_KEEP:-} ]]; then rm -rf "$work"; else echo "root kept in $rootfs"; fi
  exit $status
}
trap cleanup EXIT

if [[ ! -s $tarball ]]; then
  log "debootstrap --variant=minbase $suite from $mirror"
  if ! "${bootstrap[@]}" "$work/bootstrap" "$mirror" \
    >"$work/debootstrap.log" 2>&1; then
    tail -5 "$work/debootstrap.log"
    skip "debootstrap could not build a $suite root from $mirror (log above)"
  fi
  tar -C "$work/bootstrap" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$work/bootstrap"
else
  log "reusing the bare $suite root $tarball"
fi
mkdir -p "$rootfs"
tar -C "$rootfs" -xf "$tarball"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"

# A clean clone: HEAD only, nothing untracked, no build tree.
git clone -q --no-hardlinks "$repo" "$rootfs/root/attnbench"
log "clone of $(git -C "$rootfs/root/attnbench" rev-parse --short=12 HEAD) in $rootfs/root/attnbench"

# What the root has of the suite's packages before the first command: none may be there.
for p in cmake g++ libtbb-dev libopenblas-dev python3-matplotlib; do
  if chroot "$rootfs" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    echo "the bare root already has $p: it is not a fresh machine" >&2
    exit 1
  fi
done

log "bash harness/quickstart.sh --smoke (install, build, one tiny point)"
start=$SECONDS
# A private mount namespace: /proc, /sys, /dev and the .deb cache are mounted for the chroot
# alone and vanish with it, whatever happens.
unshare --mount --propagation private bash -c '
  set -e
  root=$1 debs=$2
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount --bind "$debs" "$root/var/cache/apt/archives"
  exec chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 bash -c "cd /root/attnbench && bash harness/quickstart.sh --smoke"
' _ "$rootfs" "$debs" >"$work/quickstart.log" 2>&1
log "first command passed in $((SECONDS - start)) s"

out=$rootfs/root/attnbench/results/latest
# Every registered variant at the one point, each row measured (status ok) or skipped with its
# reason; the figures and the offline report exist.
python3 - "$out/default.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bad = [r["variant"] + ": " + r["status"] + " " + r["message"] for r in rows
       if r["status"] not in ("ok", "skipped")]
assert rows, "the smoke sweep wrote no rows"
assert not bad, "rows that failed: " + "; ".join(bad)
print(f"{len(rows)} rows, variants: {' '.join(sorted({r['variant'] for r in rows}))}")
PY
registered=$(chroot "$rootfs" /root/attnbench/build/release/attnbench list | awk '/ -- / {print $1}')
in_csv=$(python3 -c 'import csv,sys; print("\n".join(sorted({r["variant"] for r in csv.DictReader(open(sys.argv[1]))})))' "$out/default.csv")
if [[ $(sort <<<"$registered") != "$in_csv" ]]; then
  echo "the smoke sweep's variants differ from the registry:" >&2
  diff <(sort <<<"$registered") <(echo "$in_csv") >&2 || true
  exit 1
fi
ls "$out"/default/*.png >/dev/null
grep -q "<html" "$out/default.html"
log "passed: $(ls "$out"/default/*.png | wc -l) figures, report $(stat -c %s "$out/default.html") bytes"
