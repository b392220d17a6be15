#include <stdlib.h>
#include <string.h>
#include "hash.h"

#define MIN_CAP 64

/* slot: [used byte, 3 bytes, the key's hash (low 32 bits)][key, padded to 8]
 * [value]. The stored hash spares most key compares, and rehashing when a
 * deletion moves members or the table grows. */
static size_t key_off(void) { return 8; }
static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static uint8_t *slot(const struct ep_hash *m, size_t i)
{
	return m->slots + i * m->slot_size;
}

static size_t index_of(const struct ep_hash *m, const uint8_t *s)
{
	return (size_t)(s - m->slots) / m->slot_size;
}

static uint64_t final_mix(uint64_t h)
{
	h ^= h >> 30;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

/* Eight bytes at a time, then a final mix (splitmix64's). Keys of one word
 * (cookies, namespaces: most lookups) take a path without the loop. Inline:
 * every lookup of a record's path calls it. */
static inline __attribute__((always_inline)) uint64_t hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	if (len == 8 || len == 4) {
		uint32_t w32;

		/* constant sizes: the copies compile to one load */
		if (len == 8) {
			memcpy(&w, p, 8);
		} else {
			memcpy(&w32, p, 4);
			w = w32;
		}
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		return final_mix(h ^ (h >> 31));
	}
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	if (len) {
		w = 0;
		memcpy(&w, p, len);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	return final_mix(h);
}

static inline __attribute__((always_inline)) bool same_key(const uint8_t *a, const void *b,
							   size_t len)
{
	const uint8_t *c = b;
	uint64_t x, y;

	if (len % 8)
		return !memcmp(a, b, len);
	/* word by word: the keys of a record's path are one to four words */
	for (size_t i = 0; i < len; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, c + i, 8);
		if (x != y)
			return false;
	}
	return true;
}

static int alloc_slots(struct ep_hash *m, size_t cap)
{
	m->slots = calloc(cap, m->slot_size);
	if (!m->slots)
		return -1;
	m->cap = cap;
	m->count = 0;
	return 0;
}

int ep_hash_init(struct ep_hash *m, size_t key_size, size_t val_size, size_t max_entries)
{
	memset(m, 0, sizeof(*m));
	m->key_size = key_size;
	m->val_size = val_size;
	m->slot_size = key_off() + pad8(key_size) + pad8(val_size);
	m->max_entries = max_entries;
	return alloc_slots(m, MIN_CAP);
}

void ep_hash_free(struct ep_hash *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}

static uint32_t stored_hash(const uint8_t *s)
{
	uint32_t h;

	memcpy(&h, s + 4, sizeof(h));
	return h;
}

/* The key's slot, or the empty slot where it would go (*found false).
 * Inline: every lookup is one call, not two. */
static inline __attribute__((always_inline)) uint8_t *
find_hashed(const struct ep_hash *m, const void *key, uint32_t h, bool *found)
{
	size_t mask = m->cap - 1, i = h & mask;

	for (;;) {
		uint8_t *s = slot(m, i);

		if (!s[0]) {
			*found = false;
			return s;
		}
		if (stored_hash(s) == h && same_key(s + key_off(), key, m->key_size)) {
			*found = true;
			return s;
		}
		i = (i + 1) & mask;
	}
}

static uint8_t *value_of(const struct ep_hash *m, uint8_t *s)
{
	return s + key_off() + pad8(m->key_size);
}

/* The slot the last put gave, if it still holds key. A record's path often
 * asks again for the key just put (a release after its assignment, one
 * destination after another); entries move, so the key is compared. */
static inline __attribute__((always_inline)) uint8_t *last_put(const struct ep_hash *m,
							      const void *key)
{
	uint8_t *s;

	if (m->last >= m->cap)
		return NULL;
	s = slot(m, m->last);
	return s[0] && same_key(s + key_off(), key, m->key_size) ? s : NULL;
}

void *ep_hash_get(const struct ep_hash *m, const void *key)
{
	bool found;
	uint8_t *s = last_put(m, key);

	if (s)
		return value_of(m, s);
	s = find_hashed(m, key, (uint32_t)hash(key, m->key_size), &found);
	return found ? value_of(m, s) : NULL;
}

static int grow(struct ep_hash *m)
{
	struct ep_hash old = *m;

	if (alloc_slots(m, old.cap * 2)) {
		m->slots = old.slots;
		m->cap = old.cap;
		m->count = old.count;
		return -1;
	}
	for (size_t i = 0; i < old.cap; i++) {
		uint8_t *s = slot(&old, i);
		bool found;

		if (!s[0])
			continue;
		memcpy(find_hashed(m, s + key_off(), stored_hash(s), &found), s, m->slot_size);
		m->count++;
	}
	free(old.slots);
	return 0;
}

void *ep_hash_put(struct ep_hash *m, const void *key, bool *created)
{
	uint32_t h;
	bool found;
	uint8_t *s = last_put(m, key);

	if (s) {
		if (created)
			*created = false;
		return value_of(m, s);
	}
	h = (uint32_t)hash(key, m->key_size);
	s = find_hashed(m, key, h, &found);
	if (created)
		*created = !found;
	if (found) {
		m->last = index_of(m, s);
		return value_of(m, s);
	}
	if (m->count >= m->max_entries)
		return NULL;
	if ((m->count + 1) * 4 > m->cap * 3) {
		if (grow(m))
			return NULL;
		s = find_hashed(m, key, h, &found);
	}
	/* a one-word key (most puts) copied as a word, not through memcpy */
	if (m->key_size == 8) {
		uint64_t k;

		memcpy(&k, key, 8);
		memcpy(s + key_off(), &k, 8);
	} else {
		memset(s + key_off(), 0, pad8(m->key_size));
		memcpy(s + key_off(), key, m->key_size);
	}
	memset(value_of(m, s), 0, m->slot_size - key_off() - pad8(m->key_size));
	s[0] = 1;
	memcpy(s + 4, &h, sizeof(h));
	m->count++;
	m->last = index_of(m, s);
	return value_of(m, s);
}

/* Linear probing without tombstones: shift later members of the cluster back. */
static void del_at(struct ep_hash *m, size_t i)
{
	size_t mask = m->cap - 1, j;

	slot(m, i)[0] = 0;
	m->count--;
	for (j = (i + 1) & mask; slot(m, j)[0]; j = (j + 1) & mask) {
		size_t home = stored_hash(slot(m, j)) & mask;

		/* j may move to i if its home is not in (i, j] cyclically */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			memcpy(slot(m, i), slot(m, j), m->slot_size);
			slot(m, j)[0] = 0;
			i = j;
		}
	}
}

bool ep_hash_del(struct ep_hash *m, const void *key)
{
	bool found;
	uint8_t *s = find_hashed(m, key, (uint32_t)hash(key, m->key_size), &found);

	if (found)
		del_at(m, index_of(m, s));
	return found;
}

void ep_hash_del_value(struct ep_hash *m, void *val)
{
	del_at(m, index_of(m, (uint8_t *)val - key_off() - pad8(m->key_size)));
}

void ep_hash_clear(struct ep_hash *m)
{
	memset(m->slots, 0, m->cap * m->slot_size);
	m->count = 0;
}

const void *ep_hash_next(const struct ep_hash *m, size_t *pos, void **val)
{
	while (*pos < m->cap) {
		uint8_t *s = slot(m, (*pos)++);

		if (s[0]) {
			if (val)
				*val = s + key_off() + pad8(m->key_size);
			return s + key_off();
		}
	}
	return NULL;
}
