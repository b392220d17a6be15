/* Open-addressing hash table with fixed-size keys and values, growing up to a
 * hard limit so that memory stays bounded whatever the stream. Entries move
 * on deletion: do not keep pointers across ep_hash_put or ep_hash_del. */
#ifndef EPTRACE_HASH_H
#define EPTRACE_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ep_hash {
	size_t key_size, val_size, slot_size;
	size_t cap, count, max_entries;
	size_t last; /* the slot the last put gave: checked first by get and put */
	uint8_t *slots;
};

int ep_hash_init(struct ep_hash *m, size_t key_size, size_t val_size, size_t max_entries);
void ep_hash_free(struct ep_hash *m);
void *ep_hash_get(const struct ep_hash *m, const void *key);
/* The value for key, zero-filled if new (*created set); NULL when full. */
void *ep_hash_put(struct ep_hash *m, const void *key, bool *created);
bool ep_hash_del(struct ep_hash *m, const void *key);
/* Delete the entry whose value ep_hash_get or ep_hash_put just returned. */
void ep_hash_del_value(struct ep_hash *m, void *val);
void ep_hash_clear(struct ep_hash *m);
/* Iterate: start with *pos = 0; returns the key, value through *val. */
const void *ep_hash_next(const struct ep_hash *m, size_t *pos, void **val);

#endif
