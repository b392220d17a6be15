/* Open-addressing hash table with fixed-size keys and values, growing up to a
 * hard limit so that memory stays bounded whatever the stream. Entries move
 * on deletion: do not keep pointers across ep_map_put or ep_map_del. */
#ifndef EPTRACE_HASHMAP_H
#define EPTRACE_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ep_map {
	size_t key_size, val_size, slot_size;
	size_t cap, count, max_entries;
	uint8_t *slots;
};

int ep_map_init(struct ep_map *m, size_t key_size, size_t val_size, size_t max_entries);
void ep_map_free(struct ep_map *m);
void *ep_map_get(const struct ep_map *m, const void *key);
/* The value for key, zero-filled if new (*created set); NULL when full. */
void *ep_map_put(struct ep_map *m, const void *key, bool *created);
bool ep_map_del(struct ep_map *m, const void *key);
void ep_map_clear(struct ep_map *m);
/* Iterate: start with *pos = 0; returns the key, value through *val. */
const void *ep_map_next(const struct ep_map *m, size_t *pos, void **val);

#endif
