# Debian 12 kernels the guest suites run on, pinned: bump on purpose, then run
# make vmtest on each flavour and update README's "Supported kernels" table.
VM_KERNEL_ABI=6.1.0-57
VM_KERNEL_VERSION=6.1.192-3
# shellcheck disable=SC2034
VM_FLAVOURS="amd64 rt-amd64"
