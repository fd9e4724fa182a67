/*
 * fuzz_conf.c — libFuzzer harness for the config loader (lib/conf.c, and
 * through it the schema, durations, templates and the INI lexer).
 *
 * Input: the bytes of certd.conf.  conf_load() takes a path, so each input
 * is written to <tmpdir>/certd.conf (a directory made once per process;
 * there is no certd.conf.d next to it).  Defaults (state_dir, the control
 * socket...) come from the schema as they do for a real file.
 *
 * Invariants checked (conf.h): conf_load returns 0 exactly when no error
 * was reported; a loaded config has a compiled template for every output,
 * finds each of its certificates by name, and every diagnostic formats as
 * "file:line: ...".  Run with stdin from /dev/null: a template_file such as
 * /dev/stdin must not wait for a terminal.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[4096];
static char path[4200];

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_conf: invariant violated: %s\n", what);
	abort();
}

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/certd-fuzz-conf.XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_conf: mkdtemp");
		abort();
	}
	snprintf(path, sizeof(path), "%s/certd.conf", dir);
	atexit(cleanup);
}

static void
write_input(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;
	ssize_t w;

	if (fd < 0) {
		perror("fuzz_conf: open");
		abort();
	}
	while (off < size) {
		w = write(fd, data + off, size - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			perror("fuzz_conf: write");
			abort();
		}
		off += (size_t)w;
	}
	close(fd);
}

static void
check_loaded(const struct conf *c)
{
	const char *paths[64];
	size_t i, j;

	if (c->path == NULL || strcmp(c->path, path) != 0)
		fail("conf->path");
	for (i = 0; i < c->n_certs; i++) {
		const struct conf_cert *cc = &c->certs[i];
		if (cc->name == NULL || conf_find_cert(c, cc->name) != cc)
			fail("certificate not found by its name");
		if (conf_cert_paths(cc, paths, 64) > 64)
			fail("conf_cert_paths overflow");
		for (j = 0; j < cc->n_outputs; j++)
			if (cc->outputs[j].template.tmpl == NULL)
				fail("output without a compiled template");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag d = DIAG_INIT;
	struct conf *c = NULL;
	size_t i;
	int rc;

	if (path[0] == '\0')
		setup();
	write_input(data, size);
	rc = conf_load(path, &c, &d);
	if ((rc == 0) != (d.errors == 0))
		fail("return code disagrees with the errors reported");
	if (rc == 0) {
		if (c == NULL)
			fail("success without a config");
		check_loaded(c);
		conf_free(c);
	}
	for (i = 0; i < d.n; i++) {
		char *msg = diag_format(&d, i);
		if (msg == NULL || msg[0] == '\0')
			fail("empty diagnostic");
		free(msg);
	}
	diag_free(&d);
	return 0;
}
