/* SPDX-License-Identifier: GPL-2.0 */
/* SCTP: placeholder until the module's functions are confirmed. */
#ifndef EPTRACE_TR_SCTP_BPF_H
#define EPTRACE_TR_SCTP_BPF_H
#endif
