/* Layer host/: what only live runs read from the host, namespaces (this
 * header), socket dumps (sockdiag.h) and socket owners (owners.h). Never
 * touches BPF maps nor prints; may call agg/ and config/.
 *
 * Network namespaces: entering one by inode, listing them, reading port sysctls. */
#ifndef EPTRACE_NETNS_H
#define EPTRACE_NETNS_H

#include <stdbool.h>
#include <stdint.h>
#include "agg/sizes.h"

/* Calls fn(ctx) with the calling thread inside network namespace `netns`
 * (its nsfs inode number), then returns to the original namespace.
 * Finds a handle by trying, in order: /proc/<hint_pid>/ns/net (if hint_pid != 0),
 * each /run/netns/<name>, then a scan of /proc/<pid>/ns/net for all pids; a handle is
 * accepted only if fstat() shows st_ino == netns. Returns fn's return value, or
 * -ENOENT if no handle was found, or -errno if setns failed (entering, or returning
 * afterwards; in the latter case fn's value is lost). Never keeps an fd open after
 * returning. If netns equals the caller's own namespace, just calls fn. */
int ep_in_netns(uint32_t netns, uint32_t hint_pid, int (*fn)(void *ctx), void *ctx);
/* The inode of the caller's current netns, 0 on error. */
uint32_t ep_self_netns(void);
/* The namespace's cookie (SO_NETNS_COOKIE, Linux 5.14), 0 when not to be had. */
uint64_t ep_netns_cookie(uint32_t netns);
/* Calls cb(netns, pid, ctx) once per distinct netns found in /run/netns/<name> (pid 0) and
 * /proc/<pid>/ns/net (first pid seen). Returns the number found or -errno. */
int ep_list_netns(void (*cb)(uint32_t netns, uint32_t pid, void *ctx), void *ctx);

/* sysctls of the CURRENT netns (use inside ep_in_netns for another one):
 * net.ipv4.ip_local_port_range and net.ipv4.ip_local_reserved_ports.
 * bitmap: 65536 bits, bit p set for reserved port p (byte p >> 3, bit p & 7);
 * *any: whether any bit is set. 0 or -errno; a parse error gives -EINVAL. */
int ep_read_port_range(uint16_t *lo, uint16_t *hi);
int ep_read_reserved_ports(uint8_t bitmap[EP_PORT_BITMAP_BYTES], bool *any);

/* Pure parsers used by the readers: 0 or -EINVAL.
 * Range: two ports separated by blanks ("32768\t60999\n"), lo <= hi.
 * Reserved: comma list of ports and ranges "a-b" (a <= b), may be empty; blanks
 * around items are allowed. On error the bitmap is left cleared and *any false. */
int ep_parse_port_range(const char *text, uint16_t *lo, uint16_t *hi);
int ep_parse_reserved_ports(const char *text, uint8_t bitmap[EP_PORT_BITMAP_BYTES], bool *any);

#endif
