/* SPDX-License-Identifier: GPL-2.0 */
/* What a syscall exit tracepoint does not carry: the syscall's arguments,
 * from the registers the task saved on entry, and the socket behind an fd. */
#ifndef EPTRACE_TP_SYSCALL_ARGS_BPF_H
#define EPTRACE_TP_SYSCALL_ARGS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "lib/kernel_defs.bpf.h"

static __always_inline struct sock *fd_to_sock(long fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct file **fds;
	struct file *f;
	unsigned int max;
	struct socket *so;

	if (fd < 0)
		return NULL;
	max = BPF_CORE_READ(task, files, fdt, max_fds);
	if (fd >= max)
		return NULL;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(so, sk);
}

/* The first argument of the syscall under way (its fd). Compat syscalls
 * fire no syscall tracepoint, so the registers are the 64-bit ABI's. The
 * registers' pointer is typed: a plain load where the architecture keeps
 * the argument in place (x86), a helper read where it does not (arm64). */
static __always_inline long syscall_arg0(void)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return PT_REGS_PARM1_SYSCALL(regs);
}

static __always_inline void *syscall_arg1(void)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return (void *)PT_REGS_PARM2_SYSCALL(regs);
}

#endif
