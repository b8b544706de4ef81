/*
 * task_purge.c: the thread that purges stopped tasks (task_purge.h). A
 * failed pass is logged once until it changes or a pass succeeds again, as
 * the registry's collector does, so that a pass every second never fills
 * the log with the same line.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/ecs.h"
#include "api/task_purge.h"
#include "core/log.h"
#include "core/util.h"
#include "core/banned.h"

struct task_purge {
	struct api_server *srv;
	int64_t retention_ms, interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

static void pass(struct task_purge *p, char *failed, size_t failed_size)
{
	struct api_ctx ctx = { .srv = p->srv, .now_ms = now_ms() };
	struct err err = ERR_INIT;
	unsigned removed = 0;
	int r = ecs_tasks_purge(&ctx, p->retention_ms, &removed, &err);

	if (removed)
		log_info("removed %u tasks stopped more than %lld s ago", removed,
			 (long long)(p->retention_ms / 1000));
	if (r < 0 && r != -EAGAIN) {
		if (strcmp(failed, err.msg) != 0)
			log_warn("purging stopped tasks: %s", err.msg);
		snprintf(failed, failed_size, "%s", err.msg);
	} else if (r == 0 && failed[0]) {
		log_info("purging stopped tasks works again");
		failed[0] = '\0';
	}
}

static void *purge_main(void *arg)
{
	struct task_purge *p = arg;
	char failed[sizeof(((struct err *)0)->msg)] = "";

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += p->interval_ms / 1000;
		until.tv_nsec += (p->interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!p->stop && pthread_cond_timedwait(&p->cond, &p->lock, &until) != ETIMEDOUT)
			;
		if (p->stop)
			break;
		pthread_mutex_unlock(&p->lock);
		pass(p, failed, sizeof(failed));
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int task_purge_start(struct api_server *srv, int64_t retention_ms, struct task_purge **ret,
		     struct err *err)
{
	struct task_purge *p = calloc(1, sizeof(*p));

	if (!p)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	p->srv = srv;
	p->retention_ms = retention_ms;
	p->interval_ms = retention_ms / 10;
	if (p->interval_ms < 1000)
		p->interval_ms = 1000;
	if (p->interval_ms > 60000)
		p->interval_ms = 60000;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, purge_main, p) != 0) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->cond);
		free(p);
		return err_set(err, -EAGAIN, E_SERVER,
			       "cannot start the stopped-task purge thread");
	}
	*ret = p;
	return 0;
}

void task_purge_stop(struct task_purge *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
