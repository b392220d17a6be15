/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel constants that are macros in the kernel's headers, so vmlinux.h
 * lacks them: address families, protocols, file types, errnos, TCP states. */
#ifndef EPTRACE_KERNEL_DEFS_BPF_H
#define EPTRACE_KERNEL_DEFS_BPF_H

#define AF_UNSPEC 0
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_SCTP 132
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define ENOENT 2
#define EAGAIN 11
#define EEXIST 17
#define EADDRINUSE 98
#define EADDRNOTAVAIL 99

/* TCP states (include/net/tcp_states.h) */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define TCP_LISTEN 10

#endif
