/* SPDX-License-Identifier: GPL-2.0 */
/* Records out to userspace through the ring buffer, and the per-CPU counters
 * (enum ep_stat) of what was lost or not tracked. */
#ifndef EPTRACE_EMIT_BPF_H
#define EPTRACE_EMIT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/maps.bpf.h"

static __always_inline void stat_inc(__u32 idx)
{
	__u32 k = bpf_get_smp_processor_id() * EP_STAT_MAX + idx;
	__u64 *v = bpf_map_lookup_elem(&stats, &k);

	/* atomic: where programs are preemptible, two may share a CPU's row */
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* A record's place in the ring, for the caller to fill; NULL when the ring
 * is full (the caller counts the loss: only it knows whether the record
 * was its to send). */
static __always_inline struct ep_record *emit_reserve(void)
{
	return bpf_ringbuf_reserve(&events, sizeof(struct ep_record), 0);
}

/* The same for a record that is surely the caller's to send: a full ring
 * is counted here. */
static __always_inline struct ep_record *emit_reserve_counted(void)
{
	struct ep_record *out = emit_reserve();

	if (!out)
		stat_inc(EP_STAT_LOST);
	return out;
}

/* The reader wakes when a quarter of a megabyte waits, or for the first
 * record after it went to sleep; otherwise its own pace brings it. */
static __always_inline void emit_submit(struct ep_record *out)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (reader_asleep) {
		reader_asleep = false;
		flags = BPF_RB_FORCE_WAKEUP;
	} else if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
		flags = BPF_RB_FORCE_WAKEUP;
	}
	bpf_ringbuf_submit(out, flags);
}

/* Reserved and filled in place: bpf_ringbuf_output would copy the record
 * once more, with the kernel's memcpy. */
static __always_inline void emit(const struct ep_record *r)
{
	struct ep_record *out = emit_reserve_counted();

	if (!out)
		return;
	*out = *r;
	emit_submit(out);
}

#endif
