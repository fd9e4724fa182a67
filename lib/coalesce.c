/*
 * coalesce.c — batches of reloads per consumer (see coalesce.h).
 *
 * A batch: its key, a window timer, its members, and the reload_op once
 * the action runs.  The action that runs is the first member's (every
 * member's is the same by construction of the key); its reload_action is
 * copied by reload_start, so members may go away at any time.  Members
 * that join while the action already runs start a new batch: they were
 * published after it began and need their own reload.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "coalesce.h"
#include "xalloc.h"

struct batch;

struct coalesce_member {
	struct batch *b;
	reload_done_cb cb;
	void *arg;
	struct coalesce_member *next;
};

struct batch {
	struct coalesce *c;
	char *key;
	struct event *timer;
	struct reload_op *op;       /* the action, once running */
	struct reload_action action;
	char **argv;                /* the first member's argv, copied */
	struct reload_env env;
	struct coalesce_member *members;
	struct batch *next;
};

struct coalesce {
	struct event_base *base;
	struct reload_ctx *reload;
	int64_t window_ms;
	struct batch *batches;
};

void
coalesce_key(const struct conf_reload *rl, char *out, size_t len)
{
	switch (rl->type) {
	case CONF_RELOAD_SIGNAL:
		snprintf(out, len, "signal|%s|%s|%s", rl->signal ? rl->signal : "",
			 rl->pidfile ? rl->pidfile : "", rl->pidfile ? "" : (rl->unit ? rl->unit : ""));
		break;
	case CONF_RELOAD_SYSTEMD_UNIT:
		snprintf(out, len, "unit|%s|%d", rl->unit ? rl->unit : "", rl->unit_mode);
		break;
	case CONF_RELOAD_COMMAND:
		snprintf(out, len, "command|%d|%s", rl->shell, rl->command ? rl->command : "");
		break;
	default:
		out[0] = '\0';
		break;
	}
}

struct coalesce *
coalesce_new(struct event_base *base, struct reload_ctx *reload, int64_t window_ms)
{
	struct coalesce *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->reload = reload;
	c->window_ms = window_ms;
	return c;
}

static void
batch_unlink(struct batch *b)
{
	struct batch **p;

	for (p = &b->c->batches; *p != NULL; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			break;
		}
	}
}

/* The last of a batch whose members have all been answered. */
static void
batch_free_members_done(struct batch *b)
{
	size_t i;

	for (i = 0; b->argv != NULL && b->argv[i] != NULL; i++)
		free(b->argv[i]);
	free(b->argv);
	free(b->key);
	free(b);
}

static void
batch_free(struct batch *b)
{
	size_t i;

	batch_unlink(b);
	reload_cancel(b->op);
	event_free(b->timer);
	for (i = 0; b->argv != NULL && b->argv[i] != NULL; i++)
		free(b->argv[i]);
	free(b->argv);
	while (b->members != NULL) {
		struct coalesce_member *m = b->members;
		b->members = m->next;
		free(m);
	}
	free(b->key);
	free(b);
}

static void
on_done(const struct reload_result *res, void *arg)
{
	struct batch *b = arg;
	struct coalesce_member *m;

	b->op = NULL;
	batch_unlink(b);
	/* Every member learns the one result.  Members are taken off the list
	 * one at a time, so that a callback that makes another member leave
	 * finds the list consistent. */
	while ((m = b->members) != NULL) {
		b->members = m->next;
		m->cb(res, m->arg);
		free(m);
	}
	event_free(b->timer);
	b->timer = NULL;
	batch_free_members_done(b);
}

static void
on_window(evutil_socket_t fd, short what, void *arg)
{
	struct batch *b = arg;

	(void)fd;
	(void)what;
	if (b->members == NULL) {
		batch_free(b);
		return;
	}
	b->action.argv = (const char *const *)b->argv;
	reload_start(b->c->reload, &b->action, &b->env, on_done, b, &b->op);
}

struct coalesce_member *
coalesce_join(struct coalesce *c, const struct conf_reload *rl, const struct reload_action *a,
	      const struct reload_env *env, reload_done_cb cb, void *arg)
{
	struct coalesce_member *m = xcalloc(1, sizeof(*m));
	struct timeval tv;
	struct batch *b;
	char key[4096];
	size_t i, n = 0;

	coalesce_key(rl, key, sizeof(key));
	for (b = c->batches; b != NULL; b = b->next)
		if (b->op == NULL && strcmp(b->key, key) == 0)
			break;
	if (b == NULL) {
		b = xcalloc(1, sizeof(*b));
		b->c = c;
		b->key = xstrdup(key);
		b->action = *a;
		b->env = *env;
		for (i = 0; a->argv != NULL && a->argv[i] != NULL; i++)
			n++;
		if (n > 0) {
			b->argv = xcalloc(n + 1, sizeof(*b->argv));
			for (i = 0; i < n; i++)
				b->argv[i] = xstrdup(a->argv[i]);
		}
		b->action.argv = NULL;
		b->timer = evtimer_new(c->base, on_window, b);
		if (b->timer == NULL)
			abort();
		tv.tv_sec = (time_t)(c->window_ms / 1000);
		tv.tv_usec = (suseconds_t)(c->window_ms % 1000) * 1000;
		evtimer_add(b->timer, &tv);
		b->next = c->batches;
		c->batches = b;
	}
	m->b = b;
	m->cb = cb;
	m->arg = arg;
	m->next = b->members;
	b->members = m;
	return m;
}

void
coalesce_leave(struct coalesce_member *m)
{
	struct coalesce_member **p;

	if (m == NULL)
		return;
	for (p = &m->b->members; *p != NULL; p = &(*p)->next) {
		if (*p == m) {
			*p = m->next;
			break;
		}
	}
	free(m);
}

void
coalesce_free(struct coalesce *c)
{
	if (c == NULL)
		return;
	while (c->batches != NULL)
		batch_free(c->batches);
	free(c);
}
