/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session table: a fixed pool of entries, a chained hash on the key and
 * a doubly linked LRU list (head = most recently used).
 */
#include <stdlib.h>
#include <string.h>

#include "session.h"

/* FNV-1a over the key's bytes. */
static size_t key_hash(const struct sess_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < sizeof(*k); i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return (size_t)(h ^ (h >> 29));
}

static bool key_eq(const struct sess_key *a, const struct sess_key *b)
{
	return a->port == b->port && a->group == b->group &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

int sess_table_init(struct sess_table *t, size_t cap)
{
	size_t i, nb = 16;

	memset(t, 0, sizeof(*t));
	if (cap == 0)
		return -1;
	while (nb < cap * 2)
		nb <<= 1;
	t->pool = calloc(cap, sizeof(*t->pool));
	t->bucket = calloc(nb, sizeof(*t->bucket));
	if (!t->pool || !t->bucket) {
		sess_table_destroy(t);
		return -1;
	}
	t->nbucket = nb;
	t->cap = cap;
	t->next_handle = 1;
	for (i = cap; i-- > 0;) {
		t->pool[i].hnext = t->free_list;
		t->free_list = &t->pool[i];
	}
	return 0;
}

void sess_table_destroy(struct sess_table *t)
{
	free(t->journal);
	free(t->pool);
	free(t->bucket);
	memset(t, 0, sizeof(*t));
}

struct sess *sess_find(struct sess_table *t, const struct sess_key *k)
{
	struct sess *s;

	if (!t->nbucket)
		return NULL;
	for (s = t->bucket[key_hash(k) & (t->nbucket - 1)]; s; s = s->hnext)
		if (key_eq(&s->key, k))
			return s;
	return NULL;
}

static void lru_unlink(struct sess_table *t, struct sess *s)
{
	if (s->lru_prev)
		s->lru_prev->lru_next = s->lru_next;
	else
		t->lru_head = s->lru_next;
	if (s->lru_next)
		s->lru_next->lru_prev = s->lru_prev;
	else
		t->lru_tail = s->lru_prev;
	s->lru_prev = s->lru_next = NULL;
}

static void lru_push_head(struct sess_table *t, struct sess *s)
{
	s->lru_prev = NULL;
	s->lru_next = t->lru_head;
	if (t->lru_head)
		t->lru_head->lru_prev = s;
	t->lru_head = s;
	if (!t->lru_tail)
		t->lru_tail = s;
}

static void journal_push(struct sess_table *t, const struct sess_key *k)
{
	size_t tail;

	if (!t->journal_cap || t->journal_mute)
		return;
	if (t->journal_n == t->journal_cap) {
		t->journal_head = (t->journal_head + 1) % t->journal_cap;
		t->journal_n--;
		t->journal_lost++;
	}
	tail = (t->journal_head + t->journal_n) % t->journal_cap;
	t->journal[tail] = *k;
	t->journal_n++;
}

void sess_journal_note(struct sess_table *t, const struct sess *s)
{
	journal_push(t, &s->key);
}

int sess_journal_init(struct sess_table *t, size_t cap, uint64_t touch_ns)
{
	free(t->journal);
	t->journal = cap ? calloc(cap, sizeof(*t->journal)) : NULL;
	if (cap && !t->journal)
		return -1;
	t->journal_cap = cap;
	t->journal_head = t->journal_n = 0;
	t->journal_touch_ns = touch_ns;
	return 0;
}

size_t sess_journal_take(struct sess_table *t, struct sess_key *out, size_t max)
{
	size_t n = 0;

	while (n < max && t->journal_n) {
		out[n++] = t->journal[t->journal_head];
		t->journal_head = (t->journal_head + 1) % t->journal_cap;
		t->journal_n--;
	}
	return n;
}

struct sess *sess_slot(struct sess_table *t, size_t i)
{
	if (i >= t->cap || !t->pool[i].used)
		return NULL;
	return &t->pool[i];
}

void sess_touch(struct sess_table *t, struct sess *s, uint64_t now)
{
	if (t->journal_cap && now >= s->synced_ns + t->journal_touch_ns) {
		s->synced_ns = now;
		journal_push(t, &s->key);
	}
	s->last_ns = now;
	if (t->lru_head != s) {
		lru_unlink(t, s);
		lru_push_head(t, s);
	}
}

static void remove_entry(struct sess_table *t, struct sess *s, bool journal)
{
	struct sess **pp = &t->bucket[key_hash(&s->key) & (t->nbucket - 1)];

	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
	if (journal)
		journal_push(t, &s->key);
	lru_unlink(t, s);
	memset(s, 0, sizeof(*s));
	s->hnext = t->free_list;
	t->free_list = s;
	t->n--;
}

void sess_remove(struct sess_table *t, struct sess *s)
{
	remove_entry(t, s, true);
}

void sess_set_node(struct sess_table *t, struct sess *s, int node, uint64_t now)
{
	if (s->node == node)
		return;
	s->node = node;
	if (t->journal_cap) {
		s->synced_ns = now;
		journal_push(t, &s->key);
	}
}

#define SESS_EVICT_SCAN 64

struct sess *sess_insert(struct sess_table *t, const struct sess_key *k,
			 int node, uint64_t now, struct sess *evicted,
			 bool *did_evict)
{
	struct sess *s;
	size_t b;

	if (did_evict)
		*did_evict = false;
	if (!t->cap)
		return NULL;
	if (!t->free_list) {
		/* Full: the least recently used entry with no open connection
		 * goes (a client still connected keeps its node), looking at
		 * most SESS_EVICT_SCAN entries up from the tail; failing that,
		 * the least recently used one. */
		struct sess *v = t->lru_tail, *x = t->lru_tail;
		int i;

		for (i = 0; x && i < SESS_EVICT_SCAN; i++, x = x->lru_prev)
			if (x->conns == 0) {
				v = x;
				break;
			}
		if (evicted)
			*evicted = *v;
		if (did_evict)
			*did_evict = true;
		remove_entry(t, v, false);
		t->evicted++;
	}
	s = t->free_list;
	t->free_list = s->hnext;
	memset(s, 0, sizeof(*s));
	s->key = *k;
	s->node = node;
	s->handle = t->next_handle++;
	s->created_ns = s->last_ns = s->synced_ns = now;
	s->used = true;
	journal_push(t, k);
	b = key_hash(k) & (t->nbucket - 1);
	s->hnext = t->bucket[b];
	t->bucket[b] = s;
	lru_push_head(t, s);
	t->n++;
	t->inserted++;
	return s;
}

size_t sess_expire(struct sess_table *t, uint64_t now, uint64_t idle_ns)
{
	struct sess *s = t->lru_tail, *prev;
	size_t n = 0;

	while (s) {
		prev = s->lru_prev;
		if (now < s->last_ns || now - s->last_ns < idle_ns)
			break;
		if (s->conns == 0) {
			remove_entry(t, s, false);
			t->expired++;
			n++;
		} else {
			/* Open connections: in use now. To the head, so the
			 * next pass stops before it and eviction prefers
			 * idle entries. */
			sess_touch(t, s, now);
		}
		s = prev;
	}
	return n;
}

struct sess *sess_next(const struct sess_table *t, const struct sess *s)
{
	return s ? s->lru_next : t->lru_head;
}
