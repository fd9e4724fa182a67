/*
 * main.c — command line, configuration, and the choice of mode.
 *
 *   certd [-c PATH]                         run as the renewal daemon
 *   certd --once [--force] [-c PATH] [NAME...]   one pass, then exit
 *   certd --check-config [-c PATH]           validate, touch nothing
 */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conf.h"
#include "diag.h"
#include "log.h"
#include "runner.h"

#define DEFAULT_CONFIG SYSCONFDIR "/certd/certd.conf"

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: certd [OPTIONS] [NAME...]\n"
		"Keep TLS certificates issued, verified, published and renewed.\n"
		"\n"
		"  -c, --config PATH   configuration file (default " DEFAULT_CONFIG ");\n"
		"                      PATH.d/*.conf is read after it, in name order\n"
		"      --once          one pass over the certificates (or the NAMEs given):\n"
		"                      issue each that is missing, invalid, not matching its\n"
		"                      configuration, or due for renewal; then exit\n"
		"      --force         with --once: re-issue every certificate regardless\n"
		"      --check-config  validate the configuration and exit; touches nothing\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n"
		"\n"
		"Without --once, certd runs in the foreground as the renewal daemon until\n"
		"SIGTERM or SIGINT.\n"
		"\n"
		"Exit status:\n"
		"  0  success (including: nothing was due)\n"
		"  1  at least one certificate could not be issued, verified or published\n"
		"  2  configuration or usage error\n"
		"\n"
		"See certd(8) and certd.conf(5).\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"once", no_argument, NULL, 'o'},
		{"force", no_argument, NULL, 'f'},
		{"check-config", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = DEFAULT_CONFIG;
	bool once = false, force = false, check = false;
	struct diag d = DIAG_INIT;
	struct conf *c = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'o': once = true; break;
		case 'f': force = true; break;
		case 'k': check = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': printf("certd %s\n", PACKAGE_VERSION); return EXIT_OK;
		default: usage(stderr); return EXIT_CONFIG;
		}
	}
	if (force && !once) {
		fprintf(stderr, "certd: --force only makes sense with --once\n");
		return EXIT_CONFIG;
	}
	if (check && once) {
		fprintf(stderr, "certd: --check-config and --once exclude each other\n");
		return EXIT_CONFIG;
	}
	if (optind < argc && !once) {
		fprintf(stderr, "certd: certificate names are only accepted with --once\n");
		return EXIT_CONFIG;
	}

	rc = conf_load(config_path, &c, &d);
	diag_print(&d, stderr);
	if (rc < 0) {
		fprintf(stderr, "certd: %s: %zu error(s); nothing was changed\n", config_path,
			d.errors);
		diag_free(&d);
		return EXIT_CONFIG;
	}
	diag_free(&d);
	if (check) {
		printf("%s: OK, %zu certificate(s)\n", config_path, c->n_certs);
		conf_free(c);
		return EXIT_OK;
	}
	log_set_level((enum log_level)c->log_level);
	rc = once ? runner_once(c, argv + optind, argc - optind, force) : runner_daemon(c);
	conf_free(c);
	return rc;
}
