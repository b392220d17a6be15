/* Socket table of the current network namespace via NETLINK_SOCK_DIAG. */
#ifndef EPTRACE_SOCKDIAG_H
#define EPTRACE_SOCKDIAG_H

#include <stdint.h>

struct ep_diag_sock {
	uint8_t proto;   /* 6 or 17 */
	uint8_t family;  /* 4 or 6 */
	uint8_t state;   /* TCP state number (TCP_TIME_WAIT = 6, TCP_LISTEN = 10); UDP: as reported */
	uint16_t lport;  /* host order */
	uint16_t rport;  /* host order, 0: not connected */
	uint8_t laddr[16], raddr[16]; /* IPv4 in the first 4 bytes */
	uint64_t cookie; /* idiag_cookie[0] | (u64)idiag_cookie[1] << 32, as bpf_get_socket_cookie */
	uint32_t inode;  /* 0 for TIME_WAIT and SYN_RECV entries */
	uint32_t uid;
};

/* Dumps TCP and UDP, IPv4 and IPv6, all states (including LISTEN, TIME_WAIT and
 * SYN_RECV request sockets) and calls cb for each socket. Returns the number of
 * sockets or -errno; on error cb may already have been called for some sockets.
 * A protocol whose diag module is unavailable (ENOENT) is skipped. */
int ep_sockdiag_dump(void (*cb)(const struct ep_diag_sock *s, void *ctx), void *ctx);

#endif
