/*
 * fake_systemd.c — a STAND-IN for systemd's org.freedesktop.systemd1
 * Manager, for tests only.  It is not systemd: it runs no units, it only
 * answers the few calls certd's reload module makes, the way systemd does.
 *
 *   fake_systemd ADDRESS LOG_FILE [option]...
 *     --unit NAME=PID     a loaded unit whose Service.MainPID is PID
 *     --result NAME=WORD  jobs of NAME end with WORD (default "done")
 *     --fail NAME         same as --result NAME=failed
 *     --hang NAME         jobs of NAME never end (no JobRemoved)
 *     --missing NAME      job calls for NAME fail with NoSuchUnit
 *     --delay-ms N        JobRemoved N ms after the reply (default 50)
 *
 * Connects to the bus at ADDRESS (a private dbus-daemon started by the
 * test), takes the name org.freedesktop.systemd1 and serves, on
 * /org/freedesktop/systemd1, interface org.freedesktop.systemd1.Manager:
 *   ReloadUnit, RestartUnit, ReloadOrRestartUnit, ReloadOrTryRestartUnit
 *       (s name, s mode) -> o job; JobRemoved(u id, o job, s unit,
 *       s result) follows after the delay
 *   GetUnit (s name) -> o unit, or NoSuchUnit for a unit not given --unit
 *   Subscribe ()
 * and, on each --unit's object path, org.freedesktop.systemd1.Service with
 * the property MainPID (u).  Unlike systemd, JobRemoved is emitted only
 * once some client has called Subscribe: a test that sees the signal has
 * also seen certd subscribe.
 *
 * Every call is appended to LOG_FILE as one line ("ReloadUnit
 * nginx.service replace", "GetUnit x", "Subscribe").  "ready" is printed
 * on stdout once the name is owned.  Runs until killed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#define MAX_UNITS 32

struct unit {
	char *name;
	const char *result;   /* NULL: hang */
	bool loaded, missing;
	uint32_t main_pid;
	char *path;
};

struct job {
	uint32_t id;
	char path[64];
	char *unit;
	const char *result;
};

static struct unit units[MAX_UNITS];
static size_t n_units;
static FILE *call_log;
static uint64_t delay_us = 50000;
static uint32_t next_job = 1;
static bool subscribed;
static sd_bus *bus;

static struct unit *
unit_get(const char *name, bool create)
{
	size_t i;

	for (i = 0; i < n_units; i++)
		if (strcmp(units[i].name, name) == 0)
			return &units[i];
	if (!create || n_units == MAX_UNITS)
		return NULL;
	units[n_units].name = strdup(name);
	units[n_units].result = "done";
	return &units[n_units++];
}

static void
log_line(const char *a, const char *b, const char *c)
{
	fprintf(call_log, "%s%s%s%s%s\n", a, b ? " " : "", b ? b : "", c ? " " : "", c ? c : "");
	fflush(call_log);
}

static int
on_job_done(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct job *j = userdata;

	(void)usec;
	if (subscribed)
		sd_bus_emit_signal(bus, "/org/freedesktop/systemd1",
				   "org.freedesktop.systemd1.Manager", "JobRemoved", "uoss", j->id,
				   j->path, j->unit, j->result);
	free(j->unit);
	free(j);
	sd_event_source_unref(s);
	return 0;
}

static int
method_job(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *name, *mode;
	struct unit *u;
	struct job *j;
	sd_event_source *src;
	uint64_t now;
	int r;

	(void)userdata;
	r = sd_bus_message_read(m, "ss", &name, &mode);
	if (r < 0)
		return r;
	log_line(sd_bus_message_get_member(m), name, mode);
	u = unit_get(name, false);
	if (u != NULL && u->missing)
		return sd_bus_error_setf(ret_error, "org.freedesktop.systemd1.NoSuchUnit",
					 "Unit %s not found.", name);
	if (strcmp(mode, "replace") != 0 && strcmp(mode, "fail") != 0)
		return sd_bus_error_setf(ret_error, SD_BUS_ERROR_INVALID_ARGS,
					 "Job mode %s invalid.", mode);
	j = calloc(1, sizeof(*j));
	j->id = next_job++;
	snprintf(j->path, sizeof(j->path), "/org/freedesktop/systemd1/job/%" PRIu32, j->id);
	j->unit = strdup(name);
	j->result = u != NULL ? u->result : "done";
	r = sd_bus_reply_method_return(m, "o", j->path);
	if (j->result == NULL) {
		free(j->unit);
		free(j);
		return r;
	}
	sd_event_now(sd_bus_get_event(bus), CLOCK_MONOTONIC, &now);
	/* Not floating: on_job_done drops the only reference. */
	if (sd_event_add_time(sd_bus_get_event(bus), &src, CLOCK_MONOTONIC, now + delay_us, 0,
			      on_job_done, j) < 0) {
		free(j->unit);
		free(j);
	}
	return r;
}

static int
method_get_unit(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *name;
	struct unit *u;
	int r;

	(void)userdata;
	r = sd_bus_message_read(m, "s", &name);
	if (r < 0)
		return r;
	log_line("GetUnit", name, NULL);
	u = unit_get(name, false);
	if (u == NULL || !u->loaded)
		return sd_bus_error_setf(ret_error, "org.freedesktop.systemd1.NoSuchUnit",
					 "Unit %s not loaded.", name);
	return sd_bus_reply_method_return(m, "o", u->path);
}

static int
method_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	(void)userdata;
	(void)ret_error;
	log_line("Subscribe", NULL, NULL);
	subscribed = true;
	return sd_bus_reply_method_return(m, "");
}

static int
prop_main_pid(sd_bus *b, const char *path, const char *interface, const char *property,
	      sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct unit *u = userdata;

	(void)b;
	(void)path;
	(void)interface;
	(void)property;
	(void)ret_error;
	return sd_bus_message_append(reply, "u", u->main_pid);
}

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("ReloadUnit", "ss", "o", method_job, 0),
	SD_BUS_METHOD("RestartUnit", "ss", "o", method_job, 0),
	SD_BUS_METHOD("ReloadOrRestartUnit", "ss", "o", method_job, 0),
	SD_BUS_METHOD("ReloadOrTryRestartUnit", "ss", "o", method_job, 0),
	SD_BUS_METHOD("GetUnit", "s", "o", method_get_unit, 0),
	SD_BUS_METHOD("Subscribe", "", "", method_subscribe, 0),
	SD_BUS_SIGNAL("JobRemoved", "uoss", 0),
	SD_BUS_VTABLE_END,
};

static const sd_bus_vtable service_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("MainPID", "u", prop_main_pid, 0, 0),
	SD_BUS_VTABLE_END,
};

static int
usage(void)
{
	fprintf(stderr, "usage: fake_systemd ADDRESS LOG_FILE [--unit NAME=PID] "
			"[--result NAME=WORD] [--fail NAME] [--hang NAME] [--missing NAME] "
			"[--delay-ms N]\n");
	return 2;
}

static int
parse_options(int argc, char **argv)
{
	struct unit *u;
	char *eq;
	int i;

	for (i = 3; i < argc; i++) {
		if (i + 1 >= argc)
			return -1;
		eq = strchr(argv[i + 1], '=');
		if (strcmp(argv[i], "--unit") == 0 || strcmp(argv[i], "--result") == 0) {
			if (eq == NULL)
				return -1;
			*eq = '\0';
			u = unit_get(argv[i + 1], true);
			if (argv[i][2] == 'u') {
				u->loaded = true;
				u->main_pid = (uint32_t)strtoul(eq + 1, NULL, 10);
			} else {
				u->result = eq + 1;
			}
		} else if (strcmp(argv[i], "--fail") == 0) {
			unit_get(argv[i + 1], true)->result = "failed";
		} else if (strcmp(argv[i], "--hang") == 0) {
			unit_get(argv[i + 1], true)->result = NULL;
		} else if (strcmp(argv[i], "--missing") == 0) {
			unit_get(argv[i + 1], true)->missing = true;
		} else if (strcmp(argv[i], "--delay-ms") == 0) {
			delay_us = strtoull(argv[i + 1], NULL, 10) * 1000u;
		} else {
			return -1;
		}
		i++;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	sd_event *ev = NULL;
	size_t i;
	int r;

	if (argc < 3 || parse_options(argc, argv) < 0)
		return usage();
	call_log = fopen(argv[2], "a");
	if (call_log == NULL) {
		perror(argv[2]);
		return 1;
	}
	r = sd_event_default(&ev);
	if (r >= 0)
		r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, argv[1]);
	if (r >= 0)
		r = sd_bus_set_bus_client(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r >= 0)
		r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/systemd1",
					     "org.freedesktop.systemd1.Manager", manager_vtable,
					     NULL);
	for (i = 0; r >= 0 && i < n_units; i++) {
		if (!units[i].loaded)
			continue;
		r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", units[i].name,
				       &units[i].path);
		if (r >= 0)
			r = sd_bus_add_object_vtable(bus, NULL, units[i].path,
						     "org.freedesktop.systemd1.Service",
						     service_vtable, &units[i]);
	}
	if (r >= 0)
		r = sd_bus_request_name(bus, "org.freedesktop.systemd1", 0);
	if (r >= 0)
		r = sd_bus_attach_event(bus, ev, 0);
	if (r < 0) {
		fprintf(stderr, "fake_systemd: %s\n", strerror(-r));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	r = sd_event_loop(ev);
	return r < 0 ? 1 : 0;
}
