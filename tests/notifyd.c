/*
 * notifyd.c — a stand-in for systemd's notification socket, for tests.
 *
 *   notifyd SOCKET_PATH OUTPUT_FILE
 *
 * Binds a Unix datagram socket at SOCKET_PATH and appends every message
 * received (sd_notify's "READY=1\nSTATUS=...") to OUTPUT_FILE, one
 * datagram per line with newlines inside a message shown as " | ", each
 * prefixed with the receive time in milliseconds.  Runs until SIGTERM.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sigaction act = {.sa_handler = on_term};
	char msg[4096];
	struct timespec ts;
	FILE *out;
	ssize_t n;
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: notifyd SOCKET_PATH OUTPUT_FILE\n");
		return 2;
	}
	sigaction(SIGTERM, &act, NULL);
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	unlink(argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(argv[1]);
		return 1;
	}
	out = fopen(argv[2], "a");
	if (out == NULL) {
		perror(argv[2]);
		return 1;
	}
	while (!stop) {
		n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		msg[n] = '\0';
		clock_gettime(CLOCK_REALTIME, &ts);
		fprintf(out, "%lld ", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		for (char *p = msg; *p; p++)
			fputs(*p == '\n' ? " | " : (char[]){*p, 0}, out);
		fputc('\n', out);
		fflush(out);
	}
	fclose(out);
	unlink(argv[1]);
	return 0;
}
