/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the discovery parser must accept or refuse any bytes
 * without reading out of bounds, and what it accepts must re-encode to
 * the same bytes: 36 of them, or with the authentication flag 76, of which
 * the encoder writes all but the MAC (auth.c's to fill).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lbfo_disc_msg m;
	uint8_t out[LBFO_DISC_AUTH_LEN];
	enum lbfo_disc_err e = lbfo_disc_parse(data, size, &m);

	if ((unsigned)e >= LBFO_DISC_E__MAX)
		abort();
	if (e == LBFO_DISC_OK) {
		size_t want = (m.flags & LBFO_DISC_F_AUTH) ? LBFO_DISC_AUTH_LEN : LBFO_DISC_LEN;
		size_t body = (m.flags & LBFO_DISC_F_AUTH) ? LBFO_DISC_MAC_OFF : LBFO_DISC_LEN;

		if (size != want || lbfo_disc_encode(&m, out, sizeof(out)) != want)
			abort();
		if (memcmp(out, data, body))
			abort();
	}
	(void)lbfo_disc_check(data, size, 1, &m);
	return 0;
}
