/*
 * sched.h — when to renew, and when to retry.  Pure functions of their
 * arguments (randomness comes in as rnd in [0, 1)), table-tested.
 */
#ifndef CERTD_SCHED_H
#define CERTD_SCHED_H

#include <stdint.h>
#include <time.h>

struct sched_policy {
	int64_t renew_before;      /* seconds before expiry; 0: unused */
	unsigned renew_at_percent; /* share of the lifetime, 1..100 */
	unsigned jitter_percent;   /* share of the lifetime taken off at random */
};

/* The renewal time of a certificate valid from not_before to not_after:
 * the earlier of not_before + renew_at_percent of the lifetime and
 * not_after - renew_before, then up to jitter_percent of the lifetime
 * earlier (rnd * jitter).  Never before a third of the lifetime has
 * passed, so that a renew_before longer than what the CA granted cannot
 * make a new certificate due at once (the loop guard). */
time_t sched_renew_time(const struct sched_policy *p, time_t not_before, time_t not_after,
			double rnd);

/* Delay before retry number `failures` (1 for the first retry) when the
 * current certificate has `remaining` seconds of validity (<= 0: expired or
 * missing).  Exponential from 30 s with full jitter, the ceiling capped at
 * min(1 h, 10% of remaining) so retries get more frequent as expiry nears
 * (5 min when nothing valid is in place), and never below 1 s. */
int64_t sched_backoff(unsigned failures, int64_t remaining, double rnd);

/* A stable number in [0, 1) derived from bytes (e.g. a certificate's
 * fingerprint), so that a certificate keeps its jitter across restarts. */
double sched_stable_rnd(const unsigned char *bytes, size_t len);

#endif
