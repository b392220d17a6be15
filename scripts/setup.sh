#!/bin/sh
# Installs what eptrace needs to build and test on Debian 12, and the mounts it
# uses. Safe to run again.
set -eu
export DEBIAN_FRONTEND=noninteractive
pkgs="make clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config gcc libc6-dev
      libsqlite3-dev libmicrohttpd-dev libclang-rt-14-dev
      iproute2 python3 python3-pytest socat util-linux procps sqlite3 prometheus valgrind strace gdb"
for opt; do
	case "$opt" in
	# the peers the benchmark compares with, and its HTTP server and load
	--bench) pkgs="$pkgs bpftrace libbpf-tools nginx-light wrk";;
	--vm) pkgs="$pkgs qemu-system-x86 busybox-static cpio kmod";; # make vmtest
	*) echo "setup.sh: unknown option $opt (--bench, --vm)" >&2; exit 2;;
	esac
done
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	# make bench runs its own nginx in its own namespace: the one the package
	# starts on port 80 is not wanted
	case " $missing " in
	*" nginx-light "*) ! command -v systemctl >/dev/null ||
		systemctl disable --now nginx >/dev/null 2>&1 || true;;
	esac
fi
if ! grep -q " /sys/kernel/tracing tracefs" /proc/mounts; then
	mount -t tracefs nodev /sys/kernel/tracing
fi
