/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What an epoll registration of lbfo-router points at: the loop dispatches
 * on the kind (router.c). */
#ifndef LBFO_ROUTER_EV_H
#define LBFO_ROUTER_EV_H

enum rt_ev_kind { RT_EV_LISTEN, RT_EV_CLIENT, RT_EV_BACKEND, RT_EV_DISC, RT_EV_CTL,
		  RT_EV_SIGNAL, RT_EV_MSG, RT_EV_SYNC_LISTEN, RT_EV_SYNC_PEER,
		  RT_EV_SYNC_IN, RT_EV_SYNC_WAKE };

struct rt_ev {
	enum rt_ev_kind kind;
	void *ptr;
};

#endif
