/*
 * log.c — logging to stderr, one line per message, never interleaved
 * mid-line (one write per message); or to the journal with structured
 * fields when stderr is the journal's stream (sd_journal_send is a single
 * datagram to journald, non-blocking in practice).
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "buf.h"
#include "log.h"

static enum log_level max_level = LOG_LVL_INFO;
static bool to_journal;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void
log_set_level(enum log_level level)
{
	max_level = level;
}

void
log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	to_journal = js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
		     fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
		     (unsigned long long)st.st_ino == ino;
}

static void
log_vmsgx(enum log_level level, const struct log_ctx *ctx, const char *fmt, va_list ap)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	struct buf b = BUF_INIT, text = BUF_INIT;
	ssize_t r;
	size_t off = 0;

	if (level > max_level)
		return;
	buf_vprintf(&text, fmt, ap);
	if (to_journal) {
		/* The journal shows the certificate as a field and in the text. */
		sd_journal_send("PRIORITY=%d", prio[level], "MESSAGE=%s%s%s%s", ctx && ctx->cert ? "[" : "",
				ctx && ctx->cert ? ctx->cert : "", ctx && ctx->cert ? "] " : "",
				buf_str(&text), "CERTD_CERT=%s", ctx && ctx->cert ? ctx->cert : "",
				"CERTD_ISSUER=%s", ctx && ctx->issuer ? ctx->issuer : "",
				"CERTD_SERIAL=%s", ctx && ctx->serial ? ctx->serial : "", NULL);
		buf_free(&text);
		return;
	}
	buf_printf(&b, "certd: %s: ", level_names[level]);
	if (ctx != NULL && ctx->cert != NULL)
		buf_printf(&b, "[%s] ", ctx->cert);
	buf_append(&b, buf_str(&text), text.len);
	buf_putc(&b, '\n');
	while (off < b.len) {
		r = write(STDERR_FILENO, b.data + off, b.len - off);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	buf_free(&b);
	buf_free(&text);
}

void
log_msgx(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsgx(level, ctx, fmt, ap);
	va_end(ap);
}

void
log_msg(enum log_level level, const char *cert, const char *fmt, ...)
{
	struct log_ctx ctx = {cert, NULL, NULL};
	va_list ap;

	va_start(ap, fmt);
	log_vmsgx(level, &ctx, fmt, ap);
	va_end(ap);
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
