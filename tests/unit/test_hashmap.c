/* Hash table against a plain array: random puts and deletes over a small key
 * space (long probe clusters, backward-shift deletion, growth, the limit),
 * and the key put last asked for again after each (the slot the table
 * remembers for it may since hold another key, or none). */
#include <stdlib.h>
#include "check.h"
#include "agg/hash.h"

enum { KEYS = 3000, OPS = 200000, LIMIT = 2000 };

int main(void)
{
	static int64_t ref[KEYS];
	static bool present[KEYS];
	struct ep_hash m;
	size_t n = 0, seen = 0, pos = 0;
	uint32_t last = 0;
	bool ok = true, created;
	const uint32_t *k;
	int64_t *v;

	CHECK(ep_hash_init(&m, sizeof(uint32_t), sizeof(int64_t), LIMIT) == 0);
	srand(11);
	for (int i = 0; i < OPS; i++) {
		uint32_t key = rand() % 4 ? (uint32_t)rand() % KEYS : last;

		if (rand() % 3) {
			last = key;
			v = ep_hash_put(&m, &key, &created);
			if (!present[key] && n == LIMIT) {
				if (v)
					ok = false; /* over the limit */
				continue;
			}
			if (!v || created == present[key]) {
				ok = false;
				continue;
			}
			*v = i;
			ref[key] = i;
			if (!present[key])
				n++;
			present[key] = true;
		} else {
			if (ep_hash_del(&m, &key) != present[key])
				ok = false;
			if (present[key])
				n--;
			present[key] = false;
		}
		v = ep_hash_get(&m, &last);
		if (!!v != present[last] || (v && *v != ref[last]))
			ok = false;
		if (i % 1000 == 0) {
			for (uint32_t q = 0; q < KEYS; q++) {
				v = ep_hash_get(&m, &q);
				if (!!v != present[q] || (v && *v != ref[q]))
					ok = false;
			}
		}
	}
	CHECK(ok);
	CHECK(m.count == n);
	while ((k = ep_hash_next(&m, &pos, (void **)&v)))
		seen += present[*k] && *v == ref[*k];
	CHECK(seen == n);
	ep_hash_clear(&m);
	CHECK(m.count == 0);
	ep_hash_free(&m);
	return check_done("hashmap");
}
