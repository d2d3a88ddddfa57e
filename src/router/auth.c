/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Key files and HMAC-SHA256 (auth.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "proto.h"

int rt_key_load(const char *path, struct rt_key *k, char *why, size_t whylen)
{
	uint8_t buf[RT_KEY_MAX + 2];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(k, 0, sizeof(*k));
	if (fd < 0) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(why, whylen, "%s: mode %04o lets group or others read the key; "
			 "chmod 600 it", path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	len = (size_t)n;
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	if (len < RT_KEY_MIN || len > RT_KEY_MAX) {
		snprintf(why, whylen, "%s: the key has %zu%s bytes; give %d to %d (e.g. "
			 "head -c 32 /dev/urandom | base64 > %s)", path, len,
			 len > RT_KEY_MAX ? " or more" : "", RT_KEY_MIN, RT_KEY_MAX, path);
		return -1;
	}
	memcpy(k->b, buf, len);
	k->len = len;
	return 0;
}

void rt_mac(const struct rt_key *k, const uint8_t *msg, size_t len, uint8_t out[RT_MAC_LEN])
{
	unsigned int olen = RT_MAC_LEN;

	HMAC(EVP_sha256(), k->b, (int)k->len, msg, len, out, &olen);
}

bool rt_mac_ok(const struct rt_key *k, const uint8_t *msg, size_t len,
	       const uint8_t mac[RT_MAC_LEN])
{
	uint8_t want[RT_MAC_LEN];

	rt_mac(k, msg, len, want);
	return CRYPTO_memcmp(want, mac, RT_MAC_LEN) == 0;
}

void rt_key_derive(const struct rt_key *k, const uint8_t *nonce, size_t len, struct rt_key *out)
{
	memset(out, 0, sizeof(*out));
	rt_mac(k, nonce, len, out->b);
	out->len = RT_MAC_LEN;
}

int rt_random(uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

uint64_t rt_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t rt_disc_stamp(uint64_t *last)
{
	uint64_t t = rt_wall_us();

	if (t <= *last)
		t = *last + 1;
	*last = t;
	return t;
}

void rt_disc_seal(const struct rt_key *k, uint8_t *buf, size_t len)
{
	if (k->len && len == LBFO_DISC_AUTH_LEN)
		rt_mac(k, buf, LBFO_DISC_MAC_OFF, buf + LBFO_DISC_MAC_OFF);
}

int rt_disc_verify(const struct rt_key *k, const uint8_t *buf, size_t len, uint8_t flags,
		   uint64_t stamp, uint64_t now_us, uint64_t skew_us, uint64_t *last)
{
	if (!k->len)
		return LBFO_DISC_OK;
	if (!(flags & LBFO_DISC_F_AUTH) || len != LBFO_DISC_AUTH_LEN ||
	    !rt_mac_ok(k, buf, LBFO_DISC_MAC_OFF, buf + LBFO_DISC_MAC_OFF))
		return LBFO_DISC_E_AUTH;
	if (stamp + skew_us < now_us || stamp > now_us + skew_us || (last && stamp <= *last))
		return LBFO_DISC_E_REPLAY;
	if (last)
		*last = stamp;
	return LBFO_DISC_OK;
}
