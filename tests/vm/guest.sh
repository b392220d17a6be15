#!/bin/bash
# Runs on the host's root inside the guest (read-only, with a tmpfs overlay):
# mounts what the tests expect, runs the command the host left in the results
# share, writes its exit status there and powers off. Every wait is bounded by
# the command's timeout; the host kills the guest at its own.
results=$1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
off() { sync; echo o > /proc/sysrq-trigger; sleep 30; }
trap off EXIT
# /tmp stays the host's, through the overlay: the checkout may live there.
# The tests' own files go to a tmpfs.
mount -t tmpfs tmpfs /run
mkdir -p /run/netns /run/tmp /dev/pts /dev/shm
export TMPDIR=/run/tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tracefs nodev /sys/kernel/tracing
mount -t debugfs nodev /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
hostname eptrace-guest
ulimit -n 65536
echo "vmtest: guest up: $(uname -r) ($(uname -v | cut -c1-60)), $(nproc) vCPU"
cd "$(cat "$results/cwd")" || exit 1
timeout --kill-after=10 "$(cat "$results/timeout")" bash "$results/command"
rc=$?
if [ $rc = 124 ] || [ $rc = 137 ]; then
	echo "vmtest: the command timed out inside the guest; blocked tasks:"
	echo w > /proc/sysrq-trigger
	sleep 2
fi
echo $rc > "$results/rc"
