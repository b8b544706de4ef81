/*
 * metrics.h: what the server counts and serves at /metrics (Prometheus
 * text): API requests and their latency by service, action and status,
 * registry bytes in and out, scheduler loop timing, store commit timing,
 * and, read from the store when scraped, tasks by state and container
 * instances by status per cluster. docs/metrics.md lists the families.
 */
#ifndef BERTH_API_METRICS_H
#define BERTH_API_METRICS_H

#include <stdint.h>

#include "core/buf.h"

struct api_server;
struct api_metrics;

/* The server's metrics, reading the store of srv when rendered. */
struct api_metrics *api_metrics_new(struct api_server *srv);
void api_metrics_free(struct api_metrics *m);

/*
 * One answered request of the JSON APIs: service is the signing name
 * ("ecs", "ecr", "logs"; "unknown" when the target named none), action an
 * operation the service has (or "unknown"), status the HTTP status.
 * Lock-free. m may be NULL.
 */
void api_metrics_request(struct api_metrics *m, const char *service, const char *action, int status,
			 uint64_t ns);

/* One answered request of the registry (/v2/): bytes of body received and sent. */
void api_metrics_registry(struct api_metrics *m, const char *method, int status, uint64_t bytes_in,
			  uint64_t bytes_out);

/*
 * One pass of a scheduler loop took ns: loop names it ("placement" for one
 * RunTask/StartTask placement; the service scheduler feeds "service" per
 * reconcile pass). berth_scheduler_loop_duration_seconds{loop}. m may be NULL.
 */
void api_metrics_scheduler(struct api_metrics *m, const char *loop, uint64_t ns);

/* A store commit took ns (a store commit_observer: ctx is the api_metrics). */
void api_metrics_commit(void *ctx, uint64_t ns, int result);

/* The /metrics body. */
void api_metrics_render(struct api_metrics *m, struct buf *out);

#endif
