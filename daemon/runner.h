/*
 * runner.h — wiring: the event loop, the worker pool, the issuers and one
 * job per certificate, run once (`certd --once`) or as the daemon.
 */
#ifndef CERTD_RUNNER_H
#define CERTD_RUNNER_H

#include <stdbool.h>

#include "conf.h"

/* Exit codes, as documented in certd --help and certd(8). */
#define EXIT_OK 0
#define EXIT_CERT_FAILED 1
#define EXIT_CONFIG 2

/* One pass over the certificates named in names (all when n == 0); with
 * force, re-issue each regardless of its state.  Returns an exit code. */
int runner_once(const struct conf *c, char **names, int n, bool force);

/* Run until SIGTERM/SIGINT: a pass over every certificate, then each is
 * renewed at its time, retried with backoff on failure; SIGHUP reloads
 * config_path.  Takes ownership of c.  Returns an exit code. */
int runner_daemon(struct conf *c, const char *config_path);

#endif
