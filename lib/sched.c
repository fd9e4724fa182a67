/*
 * sched.c — renewal and retry timing (see sched.h).  No clocks read here.
 */
#include "config.h"

#include <stddef.h>

#include "sched.h"

#define BACKOFF_BASE 30
#define BACKOFF_MAX 3600
/* Nothing valid is in place: the service is already broken, so retry
 * within minutes, not within the hour. */
#define BACKOFF_MAX_EXPIRED 300

time_t
sched_renew_time(const struct sched_policy *p, time_t not_before, time_t not_after, double rnd)
{
	int64_t life = (int64_t)not_after - (int64_t)not_before;
	int64_t at, by_before, jitter;

	if (life <= 0)
		return not_before;
	at = (int64_t)not_before + life * (int64_t)p->renew_at_percent / 100;
	if (p->renew_before > 0) {
		by_before = (int64_t)not_after - p->renew_before;
		if (by_before < at)
			at = by_before;
	}
	if (rnd < 0)
		rnd = 0;
	if (rnd >= 1)
		rnd = 0.999999;
	jitter = (int64_t)((double)(life * (int64_t)p->jitter_percent / 100) * rnd);
	at -= jitter;
	/* Loop guard: a renew_before longer than the lifetime the CA granted
	 * (Vault clamps TTLs to the role's max_ttl silently) would make every
	 * new certificate due at once.  Never renew before a third of it. */
	if (at < (int64_t)not_before + life / 3)
		at = (int64_t)not_before + life / 3;
	return (time_t)at;
}

int64_t
sched_backoff(unsigned failures, int64_t remaining, double rnd)
{
	int64_t ceiling = BACKOFF_BASE, cap = BACKOFF_MAX, delay;
	unsigned i;

	for (i = 1; i < failures && ceiling < BACKOFF_MAX; i++)
		ceiling *= 2;
	if (remaining > 0 && remaining / 10 < cap)
		cap = remaining / 10;
	if (remaining <= 0)
		cap = BACKOFF_MAX_EXPIRED;
	if (ceiling > cap)
		ceiling = cap;
	if (rnd < 0)
		rnd = 0;
	if (rnd >= 1)
		rnd = 0.999999;
	delay = (int64_t)((double)ceiling * rnd);
	return delay < 1 ? 1 : delay;
}

double
sched_stable_rnd(const unsigned char *bytes, size_t len)
{
	unsigned long long v = 0;
	size_t i;

	/* 53 bits: every value is exact in a double, so the result is < 1. */
	for (i = 0; i < 7; i++)
		v = (v << 8) | (i < len ? bytes[i] : 0);
	return (double)(v >> 3) / 9007199254740992.0; /* 2^53 */
}
