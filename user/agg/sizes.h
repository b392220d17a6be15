/* Sizes every layer shares, named once. */
#ifndef EPTRACE_SIZES_H
#define EPTRACE_SIZES_H

/* One bit per port: a namespace's reserved ports, or those listening. */
#define EP_PORT_BITMAP_BYTES (65536 / 8)

#endif
