/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inside the replication module (sync.h): what its files share. sync.c
 * (sending, life cycle) uses sync_in.c (receiving) and sync_map.c;
 * sync_in.c and sync_status.c use sync_map.c only.
 */
#ifndef LBFO_ROUTER_SYNC_INT_H
#define LBFO_ROUTER_SYNC_INT_H

#include "sync.h"

/* sync_map.c */
bool rt_sync_keyed(const struct rt_sync *y);
void rt_sync_ep_set(struct rt_sync *y, int fd, struct rt_ev *ev, uint32_t events, int op);
uint32_t rt_sync_node_ip(const struct rt_sync *y, int node);
int rt_sync_group_by_hash(const struct rt_sync *y, uint32_t h);
/* A session's last use on the wall clock, fixed until it is used again. */
uint64_t rt_sync_stamp_of(struct sess *s, uint64_t now, uint64_t wall);
/* The wire form of a key's state now (set, or delete when s is NULL);
 * false for a session that is not replicated. */
bool rt_sync_entry_of(const struct rt_sync *y, const struct sess_key *k, struct sess *s,
		      uint64_t now, uint64_t wall, struct lbfo_sync_entry *e);
size_t rt_sync_sessions_n(const struct rt_sync *y);
/* TCP keepalive and user timeout on a peer connection (about 11 s). */
void rt_sync_keepalive(int fd);

/* sync_in.c */
void rt_sync_in_close(struct rt_sync *y, struct rt_sync_in *c, const char *why);

#endif
