/*
 * deployment.c: the service scheduler's arithmetic and its events'
 * wording (deployment.h).
 */
#include <string.h>

#include "sched/deployment.h"
#include "sched/placement.h"
#include "core/banned.h"

int64_t deployment_min_healthy(int64_t desired, int64_t min_percent)
{
	if (desired <= 0 || min_percent <= 0)
		return 0;
	return (desired * min_percent + 99) / 100;
}

int64_t deployment_max_total(int64_t desired, int64_t max_percent)
{
	if (desired <= 0 || max_percent <= 0)
		return 0;
	return desired * max_percent / 100;
}

int64_t deployment_failure_threshold(int64_t desired)
{
	int64_t t = desired > 0 ? (desired + 1) / 2 : 0;

	if (t < 3)
		t = 3;
	if (t > 200)
		t = 200;
	return t;
}

void deployment_plan(const struct deployment_counts *c, struct deployment_plan *ret)
{
	int64_t floor = deployment_min_healthy(c->desired, c->min_percent);
	int64_t ceiling = deployment_max_total(c->desired, c->max_percent);
	int64_t primary = c->primary, healthy = c->primary_healthy + c->old_healthy, total;

	memset(ret, 0, sizeof(*ret));
	if (primary > c->desired) {
		ret->stop_primary = primary - (c->desired > 0 ? c->desired : 0);
		primary -= ret->stop_primary;
		/* scale in: the unhealthy go first, and the healthy count follows */
		if (c->primary_healthy > primary)
			healthy -= c->primary_healthy - primary;
	}
	ret->stop_old_unready = c->old - c->old_healthy;
	if (healthy > floor)
		ret->stop_old_healthy =
			healthy - floor < c->old_healthy ? healthy - floor : c->old_healthy;
	total = primary + c->old - ret->stop_old_unready - ret->stop_old_healthy;
	if (primary < c->desired && total < ceiling) {
		ret->start = c->desired - primary;
		if (ret->start > ceiling - total)
			ret->start = ceiling - total;
	}
}

int64_t deployment_backoff_ms(int64_t failures, int64_t max_ms)
{
	int64_t d = 1000;

	if (failures <= 0)
		return 0;
	for (int64_t i = 1; i < failures && d < max_ms; i++)
		d *= 2;
	return d < max_ms ? d : max_ms;
}

static void task_list(struct buf *out, const char *ids)
{
	const char *p = ids;

	while (p && *p) {
		const char *sp = strchr(p, ' ');
		size_t n = sp ? (size_t)(sp - p) : strlen(p);

		if (n)
			buf_printf(out, " (task %.*s)", (int)n, p);
		p = sp ? sp + 1 : NULL;
	}
}

void deployment_event_started(struct buf *out, const char *service, int64_t n, const char *ids)
{
	buf_printf(out, "(service %s) has started %lld tasks:", service, (long long)n);
	task_list(out, ids);
	buf_putc(out, '.');
}

void deployment_event_stopped(struct buf *out, const char *service, int64_t n, const char *ids)
{
	buf_printf(out, "(service %s) has stopped %lld running tasks:", service, (long long)n);
	task_list(out, ids);
	buf_putc(out, '.');
}

void deployment_event_steady(struct buf *out, const char *service)
{
	buf_printf(out, "(service %s) has reached a steady state.", service);
}

void deployment_event_impaired(struct buf *out, const char *service)
{
	buf_printf(out,
		   "(service %s) is unable to consistently start tasks successfully. For more "
		   "information, see the Troubleshooting section of the Amazon ECS Developer "
		   "Guide.",
		   service);
}

void deployment_event_completed(struct buf *out, const char *service, const char *deployment)
{
	buf_printf(out, "(service %s) (deployment %s) deployment completed.", service, deployment);
}

void deployment_event_failed(struct buf *out, const char *service, const char *deployment)
{
	buf_printf(out, "(service %s) (deployment %s) deployment failed: tasks failed to start.",
		   service, deployment);
}

void deployment_event_rollback(struct buf *out, const char *service, const char *deployment,
			       const char *task_definition)
{
	buf_printf(out,
		   "(service %s) (deployment %s) rolling back to the last completed deployment "
		   "(taskDefinition %s).",
		   service, deployment, task_definition);
}

void deployment_event_unplaced(struct buf *out, const char *service, const char *reason,
			       const char *instance)
{
	const char *what = NULL;

	buf_printf(out,
		   "(service %s) was unable to place a task because no container instance met "
		   "all of its requirements.",
		   service);
	if (!reason || !instance)
		return;
	if (!strcmp(reason, PLACEMENT_REASON_CPU))
		what = "has insufficient CPU units available";
	else if (!strcmp(reason, PLACEMENT_REASON_MEMORY))
		what = "has insufficient memory available";
	else if (!strcmp(reason, PLACEMENT_REASON_PORTS) ||
		 !strcmp(reason, PLACEMENT_REASON_PORTS_UDP))
		what = "is already using a port required by your task";
	else if (!strcmp(reason, PLACEMENT_REASON_MEMBER_OF))
		what = "encountered error \"" PLACEMENT_REASON_MEMBER_OF "\"";
	else if (!strcmp(reason, PLACEMENT_REASON_DISTINCT))
		what = "encountered error \"" PLACEMENT_REASON_DISTINCT "\"";
	if (what)
		buf_printf(out, " The closest matching (container-instance %s) %s.", instance,
			   what);
}
