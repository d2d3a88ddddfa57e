/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the discovery parser must accept or refuse any bytes
 * without reading out of bounds, and what it accepts must re-encode to
 * the same bytes (except the flags, which it keeps).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lbfo_disc_msg m;
	uint8_t out[LBFO_DISC_LEN];
	enum lbfo_disc_err e = lbfo_disc_parse(data, size, &m);

	if ((unsigned)e >= LBFO_DISC_E__MAX)
		abort();
	if (e == LBFO_DISC_OK) {
		if (size != LBFO_DISC_LEN || lbfo_disc_encode(&m, out, sizeof(out)) != LBFO_DISC_LEN)
			abort();
		if (memcmp(out, data, LBFO_DISC_LEN))
			abort();
	}
	(void)lbfo_disc_check(data, size, 1, &m);
	return 0;
}
