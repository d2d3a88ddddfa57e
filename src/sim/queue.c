/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's queues: doubly linked command lists (the team queue, a
 * path's wait list) and the event heap, ordered by time, then by the
 * order events were pushed, so that a run is deterministic.
 */
#include <stdlib.h>

#include "sim.h"
#include "sim_internal.h"

void list_push_back(struct list *l, struct scmd *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

void list_push_front(struct list *l, struct scmd *c)
{
	c->prev = NULL;
	c->next = l->head;
	if (l->head)
		l->head->prev = c;
	else
		l->tail = c;
	l->head = c;
	l->n++;
}

void list_remove(struct list *l, struct scmd *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	l->n--;
}

static bool ev_less(const struct ev *x, const struct ev *y)
{
	return x->t != y->t ? x->t < y->t : x->seq < y->seq;
}

static int heap_push(struct heap *h, struct ev e)
{
	size_t i;

	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 256;
		struct ev *nv = realloc(h->v, nc * sizeof(*nv));

		if (!nv)
			return -1;
		h->v = nv;
		h->cap = nc;
	}
	e.seq = h->seq++;
	i = h->n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!ev_less(&e, &h->v[p]))
			break;
		h->v[i] = h->v[p];
		i = p;
	}
	h->v[i] = e;
	return 0;
}

struct ev heap_pop(struct heap *h)
{
	struct ev top = h->v[0], last = h->v[--h->n];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct ev *mv = &last;

		if (l < h->n && ev_less(&h->v[l], mv)) {
			m = l;
			mv = &h->v[l];
		}
		if (r < h->n && ev_less(&h->v[r], mv))
			m = r;
		if (m == i)
			break;
		h->v[i] = h->v[m];
		i = m;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

void ev_push(struct sim *s, uint64_t t, enum ev_type type, int a, uint32_t b,
	     struct scmd *c)
{
	struct ev e = { .t = t, .type = type, .a = a, .b = b, .c = c };

	if (heap_push(&s->h, e) < 0)
		s->oom = true;
}
