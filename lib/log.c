/*
 * log.c — logging to stderr, one line per message, never interleaved
 * mid-line (one write per message).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

static enum log_level max_level = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void
log_set_level(enum log_level level)
{
	max_level = level;
}

void
log_msg(enum log_level level, const char *cert, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	ssize_t r;
	size_t off = 0;

	if (level > max_level)
		return;
	buf_printf(&b, "certd: %s: ", level_names[level]);
	if (cert != NULL)
		buf_printf(&b, "[%s] ", cert);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	buf_putc(&b, '\n');
	while (off < b.len) {
		r = write(STDERR_FILENO, b.data + off, b.len - off);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	buf_free(&b);
}

void
log_escape(const char *s, size_t max, struct buf *out)
{
	size_t i;
	unsigned char c;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == max) {
			buf_puts(out, "...");
			return;
		}
		c = (unsigned char)s[i];
		if (c == '\n')
			buf_puts(out, "\\n");
		else if (c == '\t')
			buf_puts(out, "\\t");
		else if (c == '\\')
			buf_puts(out, "\\\\");
		else if (c < 0x20 || c >= 0x7f)
			buf_printf(out, "\\x%02x", c);
		else
			buf_putc(out, (char)c);
	}
}
