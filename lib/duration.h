/*
 * duration.h — human durations in config and logs: "90s", "15m", "72h",
 * "30d", and sums like "1h30m".  A bare number is seconds.
 */
#ifndef CERTD_DURATION_H
#define CERTD_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parse s into seconds.  Returns 0, or -EINVAL (bad unit, no digits, empty)
 * or -ERANGE (beyond 100 years).  *out is written only on success. */
int duration_parse(const char *s, int64_t *out);

/* Format secs compactly ("3h12m", "45s", "2d3h"; at most two units,
 * rounded down) into out.  Negative values get a leading '-'. */
void duration_format(int64_t secs, char *out, size_t outlen);

#endif
