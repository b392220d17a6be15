// SPDX-License-Identifier: GPL-2.0
/* eptrace's tracepoint backend: ephemeral port assignments, releases and
 * failures seen through tracepoints, tp_btf, cgroup hooks and sockops. One
 * compilation unit, one skeleton (tracepoint_bpf): a backend is loaded whole.
 *
 * Brackets (see README "Latency brackets"):
 *   TCP connect  CLOSE->SYN_SENT state change .. sockops TCP_CONNECT_CB
 *   listen       CLOSE->LISTEN state change   .. sockops TCP_LISTEN_CB
 *   bind(0)      cgroup/bind4|6               .. cgroup/post_bind4|6
 *   UDP connect  cgroup/connect4|6            .. sys_exit_connect
 *   UDP sendmsg  none: seen at cgroup/sendmsg4|6, after the autobind
 *
 * Syscall tracepoints: exits only (an enter tracepoint would add a probe to
 * every syscall of every task); the fd comes from the saved registers.
 *
 * The includes' order is the programs' order in the object, which is the
 * order the loader attaches them in.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#include "tcp.bpf.h"
#include "timewait.bpf.h"
#include "bind.bpf.h"
#include "udp.bpf.h"
#include "lib/sock_table_op.bpf.h"
