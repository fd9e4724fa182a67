/*
 * main.c — command line, configuration, and the choice of mode.
 *
 *   certd [-c PATH]                         run as the renewal daemon
 *   certd --once [--force] [-c PATH] [NAME...]   one pass, then exit
 *   certd --check-config [-c PATH]           validate, touch nothing
 *   certd [-c PATH] status [--json] | renew NAME [--force] | reload
 *                                            talk to the running daemon
 */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "conf.h"
#include "control.h"
#include "diag.h"
#include "http.h"
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
		"SIGTERM or SIGINT; SIGHUP reloads the configuration, SIGUSR1 logs the status.\n"
		"\n"
		"Commands to the running daemon (over its control socket):\n"
		"  certd status [--json]        every certificate: state, serial, expiry, next renewal\n"
		"  certd renew NAME [--force]   renew NAME now if due (with --force: regardless)\n"
		"  certd revoke NAME [--reason TEXT] [--reissue]\n"
		"                               revoke NAME's certificate at its CA (Sectigo); then\n"
		"                               NAME is held (no longer renewed; renew --force\n"
		"                               resumes), or with --reissue a new one is ordered\n"
		"  certd reload                 re-read the configuration\n"
		"\n"
		"Exit status:\n"
		"  0  success (including: nothing was due)\n"
		"  1  at least one certificate could not be issued, verified or published\n"
		"  2  configuration or usage error\n"
		"\n"
		"See certd(8) and certd.conf(5).\n");
}

static void
print_status_table(const json_t *certs)
{
	const json_t *c;
	size_t i;

	printf("%-20s %-10s %-9s %-22s %-22s %-8s %s\n", "NAME", "ISSUER", "STATE", "NOT AFTER",
	       "NEXT RENEWAL", "FAILURES", "SERIAL / LAST ERROR");
	json_array_foreach(certs, i, c) {
		const char *err = json_string_value(json_object_get(c, "last_error"));
		printf("%-20s %-10s %-9s %-22s %-22s %-8lld %s\n",
		       json_string_value(json_object_get(c, "name")),
		       json_string_value(json_object_get(c, "issuer")),
		       json_string_value(json_object_get(c, "state")),
		       json_string_value(json_object_get(c, "not_after")),
		       json_string_value(json_object_get(c, "next_renewal")),
		       (long long)json_integer_value(json_object_get(c, "failures")),
		       err && *err ? err : json_string_value(json_object_get(c, "serial")));
	}
}

struct revoke_args {
	const char *reason;
	bool reissue;
};

/* After "revoke": poll the status until NAME's revocation is over. */
static int
wait_revoked(const char *socket_path, const char *name)
{
	json_t *req = json_pack("{s:s}", "cmd", "status"), *reply = NULL, *c;
	struct timespec pause = {0, 250 * 1000 * 1000};
	struct err e = {{0}};
	const char *st = "revoking";
	int i, rc = EXIT_CERT_FAILED;
	size_t k;

	for (i = 0; i < 4 * 660 && strcmp(st, "revoking") == 0; i++) {
		nanosleep(&pause, NULL);
		json_decref(reply);
		reply = NULL;
		if (control_call(socket_path, req, 10000, &reply, &e) < 0) {
			fprintf(stderr, "certd: %s: %s\n", socket_path, e.msg);
			goto out;
		}
		/* No record of it any more (a reload replaced the daemon's
		 * view of the certificate): the outcome is only in the log. */
		st = "not known: see the daemon's log";
		json_array_foreach(json_object_get(reply, "certs"), k, c)
			if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0 &&
			    json_is_string(json_object_get(c, "revoke")))
				st = json_string_value(json_object_get(c, "revoke"));
	}
	if (strcmp(st, "revoked") == 0) {
		printf("%s: revoked\n", name);
		rc = EXIT_OK;
	} else {
		fprintf(stderr, "certd: %s: revocation %s\n", name, st);
	}
out:
	json_decref(req);
	json_decref(reply);
	return rc;
}

/* status / renew / revoke / reload over the control socket; returns an
 * exit code. */
static int
client_command(const char *socket_path, const char *cmd, const char *name, bool force, bool json,
	       const struct revoke_args *ra)
{
	json_t *req = json_pack("{s:s}", "cmd", cmd), *reply = NULL;
	struct err e = {{0}};
	int rc = EXIT_CERT_FAILED;

	if (name != NULL) {
		json_object_set_new(req, "name", json_string(name));
		json_object_set_new(req, "force", json_boolean(force));
	}
	if (strcmp(cmd, "revoke") == 0) {
		if (ra->reason != NULL)
			json_object_set_new(req, "reason", json_string(ra->reason));
		json_object_set_new(req, "reissue", json_boolean(ra->reissue));
	}
	if (control_call(socket_path, req, 10000, &reply, &e) < 0) {
		fprintf(stderr, "certd: %s: %s (is the daemon running?)\n", socket_path, e.msg);
		goto out;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		fprintf(stderr, "certd: %s\n", json_string_value(json_object_get(reply, "error")));
		goto out;
	}
	if (strcmp(cmd, "status") == 0 && json) {
		char *s = json_dumps(json_object_get(reply, "certs"), JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
	} else if (strcmp(cmd, "status") == 0) {
		print_status_table(json_object_get(reply, "certs"));
	} else if (strcmp(cmd, "renew") == 0) {
		printf("%s: renewal requested (%s)\n", name,
		       json_string_value(json_object_get(reply, "state")));
	} else if (strcmp(cmd, "revoke") == 0) {
		rc = wait_revoked(socket_path, name);
		goto out;
	} else {
		printf("reload requested\n");
	}
	rc = EXIT_OK;
out:
	json_decref(req);
	json_decref(reply);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"once", no_argument, NULL, 'o'},
		{"force", no_argument, NULL, 'f'},
		{"check-config", no_argument, NULL, 'k'},
		{"json", no_argument, NULL, 'j'},
		{"reason", required_argument, NULL, 'r'},
		{"reissue", no_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = DEFAULT_CONFIG;
	bool once = false, force = false, check = false, json = false;
	const char *command = NULL;
	struct revoke_args ra = {NULL, false};
	struct diag d = DIAG_INIT;
	struct conf *c = NULL;
	struct err err = {{0}};
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'o': once = true; break;
		case 'f': force = true; break;
		case 'k': check = true; break;
		case 'j': json = true; break;
		case 'r': ra.reason = optarg; break;
		case 'R': ra.reissue = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': printf("certd %s\n", PACKAGE_VERSION); return EXIT_OK;
		default: usage(stderr); return EXIT_CONFIG;
		}
	}
	if (!once && optind < argc && (strcmp(argv[optind], "status") == 0 ||
				       strcmp(argv[optind], "renew") == 0 ||
				       strcmp(argv[optind], "revoke") == 0 ||
				       strcmp(argv[optind], "reload") == 0))
		command = argv[optind++];
	if (force && !once && (command == NULL || strcmp(command, "renew") != 0)) {
		fprintf(stderr, "certd: --force only makes sense with --once or renew\n");
		return EXIT_CONFIG;
	}
	if (check && once) {
		fprintf(stderr, "certd: --check-config and --once exclude each other\n");
		return EXIT_CONFIG;
	}
	if (command != NULL && (strcmp(command, "renew") == 0 || strcmp(command, "revoke") == 0) &&
	    optind + 1 != argc) {
		fprintf(stderr, "certd: %s takes one certificate name\n", command);
		return EXIT_CONFIG;
	}
	if ((ra.reason != NULL || ra.reissue) && (command == NULL || strcmp(command, "revoke") != 0)) {
		fprintf(stderr, "certd: --reason and --reissue go with revoke\n");
		return EXIT_CONFIG;
	}
	if (optind < argc && !once && command == NULL) {
		fprintf(stderr, "certd: certificate names are only accepted with --once\n");
		return EXIT_CONFIG;
	}

	rc = conf_load(config_path, &c, &d);
	diag_print(&d, stderr);
	if (rc < 0 && command != NULL) {
		/* The daemon may still run an older, valid config: ask it anyway. */
		fprintf(stderr, "certd: %s has errors; using the default control socket\n",
			config_path);
		diag_free(&d);
		return client_command(RUNSTATEDIR "/certd/control.sock", command,
				      optind < argc ? argv[optind] : NULL, force, json, &ra);
	}
	if (rc < 0) {
		fprintf(stderr, "certd: %s: %zu error(s); nothing was changed\n", config_path,
			d.errors);
		diag_free(&d);
		return EXIT_CONFIG;
	}
	diag_free(&d);
	if (command != NULL) {
		rc = client_command(c->control_socket, command,
				    optind < argc ? argv[optind] : NULL, force, json, &ra);
		conf_free(c);
		return rc;
	}
	if (check) {
		printf("%s: OK, %zu certificate(s)\n", config_path, c->n_certs);
		conf_free(c);
		return EXIT_OK;
	}
	log_init();
	log_set_level((enum log_level)c->log_level);
	/* Only Vault needs HTTP; a local-CA set-up runs without it. */
	if (http_global_init(&err) < 0 && c->vault.address.n > 0) {
		fprintf(stderr, "certd: %s\n", err.msg);
		conf_free(c);
		return EXIT_CERT_FAILED;
	}
	if (once) {
		rc = runner_once(c, argv + optind, argc - optind, force);
		conf_free(c);
	} else {
		rc = runner_daemon(c, config_path);
	}
	http_global_cleanup();
	return rc;
}
