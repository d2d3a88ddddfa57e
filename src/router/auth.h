/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared keys and message authentication (HMAC-SHA256, OpenSSL's
 * libcrypto) for the discovery protocol and the session-table sync.
 */
#ifndef LBFO_ROUTER_AUTH_H
#define LBFO_ROUTER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_KEY_MIN 16
#define RT_KEY_MAX 256
#define RT_MAC_LEN 32

struct rt_key {
	uint8_t b[RT_KEY_MAX];
	size_t len; /* 0: no key */
};

/* Read a key file: its bytes, less one trailing newline; RT_KEY_MIN to
 * RT_KEY_MAX bytes; a regular file that neither group nor others may read.
 * Returns 0, or -1 with why ("cannot open: ...", "mode 0644: ...", ...). */
int rt_key_load(const char *path, struct rt_key *k, char *why, size_t whylen);
/* HMAC-SHA256 of msg under k. */
void rt_mac(const struct rt_key *k, const uint8_t *msg, size_t len, uint8_t out[RT_MAC_LEN]);
/* True when mac is msg's MAC under k (compared in constant time). */
bool rt_mac_ok(const struct rt_key *k, const uint8_t *msg, size_t len,
	       const uint8_t mac[RT_MAC_LEN]);
/* A key derived from k and a nonce (HMAC(k, nonce)): one per connection. */
void rt_key_derive(const struct rt_key *k, const uint8_t *nonce, size_t len, struct rt_key *out);
/* Discovery messages (proto.h): a stamp for the next one sent (wall
 * clock in us, above *last), and the MAC put in / checked. */
uint64_t rt_disc_stamp(uint64_t *last);
void rt_disc_seal(const struct rt_key *k, uint8_t *buf, size_t len);
/* With no key: LBFO_DISC_OK. With one: LBFO_DISC_E_AUTH unless the message
 * is authenticated under it; LBFO_DISC_E_REPLAY unless its stamp is
 * within skew_us of now_us and above *last (then *last = the stamp; last
 * may be NULL: the sender is unknown, only the MAC and the clock count). */
int rt_disc_verify(const struct rt_key *k, const uint8_t *buf, size_t len, uint8_t flags,
		   uint64_t stamp, uint64_t now_us, uint64_t skew_us, uint64_t *last);
uint64_t rt_wall_us(void);

/* len random bytes (getrandom). Returns 0 or -1. */
int rt_random(uint8_t *buf, size_t len);

#endif
