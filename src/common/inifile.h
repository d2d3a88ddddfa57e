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
 * The same, telling more than inih does: libinih calls its handler for
 * keys only, so an empty section or a second [node n1] would go unseen,
 * and an indented line continuing a value looks like the key given twice.
 * The lines are looked at as they are read, by inih's own rules (a
 * leading BOM; comments ';' '#'; an indented line after a key continues
 * its value; "[" up to "]" unless a " ;" comment comes first): each hook
 * runs before inih handles that line, so in file order with the keys.
 */
struct lbfo_ini_hooks {
	ini_handler key;                                  /* a key (inih's handler) */
	int (*section)(void *user, const char *name, int line); /* 0 stops */
	void (*continuation)(void *user, int line);       /* may be NULL */
	int (*stop)(void *user);                          /* non-zero: read no further */
};
int lbfo_ini_parse_hooks(const char *file, const struct lbfo_ini_hooks *h, void *user,
			 int *lineno, char *err, size_t errlen);

/*
 * A whole number in min..max for a config value. On error, err says
 * "invalid value 'V' for 'KEY': out of range MIN..MAX" or "...: not a
 * whole number" (without " for 'KEY'" when key is NULL: for readers whose
 * message names the key already). Returns 0 or -1.
 */
int lbfo_ini_u32(const char *key, const char *v, uint32_t min, uint32_t max,
		 uint32_t *out, char *err, size_t errlen);

#endif
