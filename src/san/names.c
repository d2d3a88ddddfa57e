/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Export names. An LU's export is named by its WWID in the form the
 * identity reader gives it (src/iscsi/scsi.c): "naa." or "eui." and the
 * designator in lower-case hex, "t10." and the T10 vendor ID, an SCSI
 * name string as it is, else "serial." and the unit serial number. NBD
 * export names may hold any text, but shells, URIs (nbd+unix:///NAME)
 * and unit files read them, so everything but letters, digits and
 * . _ : - becomes '_', with runs of '_' collapsed and none at the end.
 * The name is a function of the WWID alone: stable across restarts.
 */
#include <ctype.h>
#include <string.h>

#include "san_internal.h"

void lbfo_export_name(const char *wwid, char *out, size_t len)
{
	bool hex = !strncmp(wwid, "naa.", 4) || !strncmp(wwid, "eui.", 4);
	size_t n = 0;
	const char *c;

	if (!len)
		return;
	for (c = wwid; *c && n + 1 < len; c++) {
		char ch = *c;

		if (hex)
			ch = (char)tolower((unsigned char)ch);
		if (!isalnum((unsigned char)ch) && !strchr("._:-", ch))
			ch = '_';
		if (ch == '_' && n && out[n - 1] == '_')
			continue;
		out[n++] = ch;
	}
	while (n && out[n - 1] == '_')
		n--;
	out[n] = '\0';
}
