/*
 * err.c — formatting of struct err.  Messages are truncated, never overrun.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "err.h"

int
err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e != NULL) {
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return code > 0 ? -code : code;
}

int
err_prefix(struct err *e, int code, const char *fmt, ...)
{
	char old[sizeof(e->msg)];
	size_t len;
	va_list ap;
	int n;

	if (e != NULL) {
		memcpy(old, e->msg, sizeof(old));
		va_start(ap, fmt);
		n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
		len = n < 0 ? 0 : (size_t)n;
		if (len + 2 < sizeof(e->msg)) {
			memcpy(e->msg + len, ": ", 3);
			len += 2;
			n = (int)strnlen(old, sizeof(old) - 1);
			if ((size_t)n > sizeof(e->msg) - 1 - len)
				n = (int)(sizeof(e->msg) - 1 - len);
			memcpy(e->msg + len, old, (size_t)n);
			e->msg[len + (size_t)n] = '\0';
		}
	}
	return code > 0 ? -code : code;
}

void
err_add_openssl(struct err *e)
{
	unsigned long code;
	size_t len;
	char reason[256];

	while ((code = ERR_get_error()) != 0) {
		if (e == NULL)
			continue;
		ERR_error_string_n(code, reason, sizeof(reason));
		len = strlen(e->msg);
		if (len + 3 < sizeof(e->msg))
			snprintf(e->msg + len, sizeof(e->msg) - len, " (%s)", reason);
	}
}
