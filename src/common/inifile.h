/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* INI files read with libinih, with line numbers for error messages. */
#ifndef LBFO_INIFILE_H
#define LBFO_INIFILE_H

#include <ini.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parse `file`, calling handler(user, section, name, value) per key.
 * Debian's libinih does not pass line numbers to the handler, so the
 * lines are counted here as they are read: *lineno is the line being
 * handled while the handler runs (inih handles each line as soon as it
 * has read it). Returns 0; -1 when the file cannot be read (message in
 * err); or the line of the first error: a syntax error, or a key the
 * handler refused by returning 0 (the handler writes its own message).
 */
int lbfo_ini_parse(const char *file, ini_handler handler, void *user, int *lineno,
		   char *err, size_t errlen);

/*
 * A whole number in min..max for a config value. On error, err says
 * "invalid value 'V' for 'KEY': out of range MIN..MAX" or "...: not a
 * whole number" (without " for 'KEY'" when key is NULL: for readers whose
 * message names the key already). Returns 0 or -1.
 */
int lbfo_ini_u32(const char *key, const char *v, uint32_t min, uint32_t max,
		 uint32_t *out, char *err, size_t errlen);

#endif
