/*
 * duration.c — parsing and formatting of durations.  Units: s, m, h, d, w.
 * Parsing is strict (no spaces inside, no signs, no fractions) so that a
 * typo is reported instead of silently meaning something else.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "duration.h"

#define DURATION_MAX ((int64_t)100 * 366 * 86400)

static int64_t
unit_seconds(char c)
{
	switch (c) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	case 'w': return 7 * 86400;
	default: return 0;
	}
}

int
duration_parse(const char *s, int64_t *out)
{
	int64_t total = 0, n, unit;
	const char *p = s;
	int digits;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	while (*p != '\0') {
		n = 0;
		digits = 0;
		while (*p >= '0' && *p <= '9') {
			n = n * 10 + (*p - '0');
			if (n > DURATION_MAX)
				return -ERANGE;
			p++;
			digits++;
		}
		if (digits == 0)
			return -EINVAL;
		if (*p == '\0') {
			/* A bare number means seconds, but only on its own. */
			if (p - s != digits)
				return -EINVAL;
			unit = 1;
		} else {
			unit = unit_seconds(*p);
			if (unit == 0)
				return -EINVAL;
			p++;
		}
		total += n * unit;
		if (total > DURATION_MAX)
			return -ERANGE;
	}
	*out = total;
	return 0;
}

void
duration_format(int64_t secs, char *out, size_t outlen)
{
	static const struct { char unit; int64_t secs; } units[] = {
		{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1},
	};
	const char *sign = "";
	size_t i, used = 0;
	int shown = 0, n;

	if (outlen == 0)
		return;
	if (secs < 0) {
		sign = "-";
		secs = -secs;
	}
	n = snprintf(out, outlen, "%s", sign);
	used = n > 0 ? (size_t)n : 0;
	if (secs == 0) {
		snprintf(out + used, outlen - used, "0s");
		return;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]) && shown < 2; i++) {
		if (secs < units[i].secs) {
			if (shown > 0)
				break;
			continue;
		}
		if (used >= outlen)
			break;
		n = snprintf(out + used, outlen - used, "%lld%c",
			     (long long)(secs / units[i].secs), units[i].unit);
		if (n < 0)
			break;
		used += (size_t)n;
		secs %= units[i].secs;
		shown++;
		if (secs == 0)
			break;
	}
}
