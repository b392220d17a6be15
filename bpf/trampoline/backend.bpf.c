// SPDX-License-Identifier: GPL-2.0
/* eptrace's trampoline backend: fentry/fexit on the kernel's own port search
 * and release functions. One compilation unit, one skeleton (trampoline_bpf),
 * loaded whole or not at all; the tracepoint backend is the fallback.
 *
 * Latency is the search function's own entry to exit:
 *   TCP connect   __inet_hash_connect
 *   bind, listen  inet_csk_get_port (TCP), udp_lib_get_port (UDP)
 *   UDP autobind  udp_lib_get_port, reported by its caller (connect, send)
 *   SCTP          sctp_get_port_local (when the sctp module is loaded)
 * Releases: inet_put_port, udp_lib_unhash, sctp_put_port, and the TIME_WAIT
 * socket's hand-over and kill (inet_twsk_kill). No syscall tracepoint.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#include "search.bpf.h"
#include "timewait.bpf.h"
#include "tcp.bpf.h"
#include "udp.bpf.h"
#include "sctp.bpf.h"
#include "lib/sock_table_op.bpf.h"
