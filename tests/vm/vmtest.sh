#!/bin/bash
# Boots one of Debian 12's own kernels under qemu (software emulation, no KVM
# needed) with this machine's / as the guest's read-only root, runs a command
# there against the host's build, and exits with its status.
#
#   tests/vm/vmtest.sh [--kernel amd64|rt-amd64] [--timeout SECS] [--smp N]
#                      [--icount] [--mem MB] [--collect NAME:DEST] -- COMMAND...
#
# The kernel package comes from Debian's registry through apt into a cache
# (VM_CACHE, default /var/cache/eptrace-vm); the version is pinned in
# tests/vm/kernels.sh. VM_APPEND replaces "loglevel=5" on the kernel command
# line (VM_APPEND=loglevel=7 shows every kernel message); a soft lockup panics
# the guest, which then stops without a result. The command runs in the
# current directory, which must be on the host's root filesystem; it can
# leave files in /vmresults, which --collect copies out after the run. A guest that does not finish in time is
# killed and reported as hung (exit 124).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/kernels.sh
. "$here/kernels.sh"
# One vCPU by default: with two, the emulated guest now and then locked up
# while a tracer detached (text_poke_bp's IPI to the other vCPU never
# answered, stock and RT alike); with one there is no such IPI, and the suite
# runs as fast.
flavour=amd64 tmo=3000 smp=1 mem=3072 icount= collect=()
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) flavour=$2; shift 2;;
	--timeout) tmo=$2; shift 2;;
	--smp) smp=$2; shift 2;;
	--mem) mem=$2; shift 2;;
	--icount) icount=1; shift;;
	--collect) collect+=("$2"); shift 2;;
	--) shift; break;;
	*) echo "vmtest: unknown option $1" >&2; exit 2;;
	esac
done
[ $# -gt 0 ] || { echo "vmtest: no command given" >&2; exit 2; }
case " $VM_FLAVOURS " in *" $flavour "*) ;; *)
	echo "vmtest: unknown kernel flavour '$flavour' (one of: $VM_FLAVOURS)" >&2; exit 2;; esac
for tool in qemu-system-x86_64 busybox cpio modprobe depmod apt-get dpkg-deb; do
	command -v $tool >/dev/null || { echo "vmtest: $tool missing: run ./scripts/setup.sh --vm" >&2; exit 2; }
done
[ -x /bin/busybox ] && file_bb=/bin/busybox || file_bb=$(command -v busybox)
ldd "$file_bb" >/dev/null 2>&1 && { echo "vmtest: $file_bb is not static: install busybox-static" >&2; exit 2; }

pkg=linux-image-$VM_KERNEL_ABI-$flavour-unsigned
kver=$VM_KERNEL_ABI-$flavour
cache=${VM_CACHE:-/var/cache/eptrace-vm}
kdir=$cache/$pkg-$VM_KERNEL_VERSION
if [ ! -f "$kdir/ready" ]; then
	echo "vmtest: fetching $pkg=$VM_KERNEL_VERSION with apt"
	rm -rf "$kdir" && mkdir -p "$kdir/deb"
	fetch() { (cd "$kdir/deb" && apt-get download -q "$pkg=$VM_KERNEL_VERSION") >&2; }
	if ! fetch; then
		apt-get update -qq >&2 || true
		fetch || { echo "vmtest: $pkg=$VM_KERNEL_VERSION cannot be had from the registry;" \
			"if Debian dropped it, bump tests/vm/kernels.sh" >&2; exit 1; }
	fi
	dpkg-deb -x "$kdir"/deb/*.deb "$kdir/root"
	rm -rf "$kdir/deb"
	depmod -b "$kdir/root" "$kver"
	touch "$kdir/ready"
fi
vmlinuz=$kdir/root/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || { echo "vmtest: $vmlinuz missing from the package" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/eptrace-vm.XXXXXX")
qpid=
cleanup() {
	[ -n "$qpid" ] && kill -KILL "$qpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The initramfs: static busybox, the modules that reach the root, an init.
ird=$work/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,modules}
cp "$file_bb" "$ird/bin/busybox"
cp "$here/init" "$ird/init"
for m in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe -d "$kdir/root" -S "$kver" --show-depends "$m"
done |
	while read -r what path _; do
		[ "$what" = insmod ] || continue
		base=$(basename "$path")
		[ -f "$ird/modules/$base" ] && continue
		cp "$path" "$ird/modules/$base"
		echo "$base" >> "$ird/modules/order"
	done
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"

res=$work/results
mkdir -p "$res"
printf '%s\n' "$PWD" > "$res/cwd"
# Under -icount sleep=off the guest clock leaps over idle time (a 9p read is
# idle time to it): a timeout inside would fire at random, so only the host's
# real-time limit holds there.
if [ -n "$icount" ]; then echo 0; else echo "$tmo"; fi > "$res/timeout"
printf '%q ' "$@" > "$res/command"
echo >> "$res/command"

qemu=(qemu-system-x86_64 -accel tcg -cpu max -m "$mem" -smp "$smp" -nographic -no-reboot
	-nic none -monitor none -serial stdio
	-kernel "$vmlinuz" -initrd "$work/initramfs.gz"
	-append "console=ttyS0 panic=-1 ${VM_APPEND:-loglevel=5} softlockup_panic=1 mitigations=off eptrace.modules=$kdir/root/lib/modules eptrace.guest=$here/guest.sh"
	-fsdev local,id=r,path=/,security_model=none,readonly=on,multidevs=remap
	-device virtio-9p-pci,fsdev=r,mount_tag=root
	-fsdev local,id=o,path="$res",security_model=none
	-device virtio-9p-pci,fsdev=o,mount_tag=results)
[ -n "$icount" ] && qemu+=(-icount shift=0,sleep=off)
echo "vmtest: booting Debian 12 $pkg $VM_KERNEL_VERSION (tcg, $smp vCPU${icount:+, icount}) to run: $*"
start=$(date +%s)
"${qemu[@]}" < /dev/null &
qpid=$!
# The guest powers itself off; past the command's timeout plus boot time it is hung.
limit=$((tmo + 180))
while kill -0 $qpid 2>/dev/null; do
	if [ $(($(date +%s) - start)) -ge $limit ]; then
		kill -KILL $qpid 2>/dev/null
		wait $qpid 2>/dev/null || true
		qpid=
		echo "vmtest: guest hung: killed after $limit s ($pkg $VM_KERNEL_VERSION)" >&2
		exit 124
	fi
	sleep 1
done
wait $qpid || true
qpid=
if [ ! -f "$res/rc" ]; then
	echo "vmtest: the guest stopped without a result ($pkg $VM_KERNEL_VERSION)" >&2
	exit 125
fi
rc=$(cat "$res/rc")
for c in "${collect[@]}"; do
	if [ -f "$res/${c%%:*}" ]; then cp "$res/${c%%:*}" "${c#*:}"
	else echo "vmtest: the guest left no ${c%%:*}" >&2; rc=1; fi
done
echo "vmtest: $pkg $VM_KERNEL_VERSION: exit $rc after $(($(date +%s) - start)) s"
exit "$rc"
