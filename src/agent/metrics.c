/*
 * metrics.c: the agent's /metrics (agent.h). Everything is read when
 * scraped, from what the agent keeps anyway: the image records and the
 * layer directories of its image store, the task records under
 * DATA-DIR/tasks (written atomically, so a scrape never sees half of one:
 * tasks by the status last reported, containers by phase), and the pull
 * counters of pull.c. Nothing is added to the paths that run tasks.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/images.h"
#include "agent/pull.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/metrics.h"
#include "core/banned.h"

#define RECORD_MAX (4u << 20)

static const char *const task_states[] = { "NONE", "PENDING", "RUNNING", "STOPPED" };
static const char *const phases[] = { "PENDING", "RUNNING", "STOPPED" };

struct image_tally {
	uint64_t n, bytes;
};

static void count_image(const cJSON *rec, void *ctx)
{
	struct image_tally *t = ctx;

	t->n++;
	t->bytes += (uint64_t)json_int(rec, "size", 0);
}

/* Entries of dir that are not hidden (a layer being unpacked is .tmp-*). */
static uint64_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static size_t index_of(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (s && !strcmp(names[i], s))
			return i;
	return 0;
}

static void count_tasks(const char *dir, uint64_t tasks[ARRAY_SIZE(task_states)],
			uint64_t containers[ARRAY_SIZE(phases)])
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
		_cleanup_json_ cJSON *doc = NULL;
		size_t len = strlen(e->d_name);
		const cJSON *list;

		if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		buf_printf(&path, "%s/%s", dir, e->d_name);
		if (fs_read_file(buf_str(&path), RECORD_MAX, &data) < 0)
			continue; /* removed since readdir: the task is gone */
		doc = cJSON_ParseWithLength(data.data, data.len);
		if (!doc)
			continue;
		tasks[index_of(task_states, ARRAY_SIZE(task_states), json_str(doc, "reported"))]++;
		list = json_arr(doc, "containers");
		for (const cJSON *c = list ? list->child : NULL; c; c = c->next)
			containers[index_of(phases, ARRAY_SIZE(phases), json_str(c, "phase"))]++;
	}
	closedir(d);
}

static void write_simple(struct buf *out, const char *name, const char *help, enum metric_type type,
			 double v)
{
	metrics_write_header(out, name, help, type);
	metrics_write_sample(out, name, NULL, v);
}

static void write_by(struct buf *out, const char *name, const char *help, const char *label,
		     const char *const *values, const uint64_t *counts, size_t n)
{
	metrics_write_header(out, name, help, METRIC_GAUGE);
	for (size_t i = 0; i < n; i++) {
		_cleanup_buf_ struct buf labels = BUF_INIT;

		metrics_label(&labels, label, values[i]);
		metrics_write_sample(out, name, buf_str(&labels), (double)counts[i]);
	}
}

void agent_metrics_render(struct agent *a, struct buf *out)
{
	_cleanup_buf_ struct buf layers = BUF_INIT;
	struct image_tally images = { 0 };
	uint64_t tasks[ARRAY_SIZE(task_states)] = { 0 }, containers[ARRAY_SIZE(phases)] = { 0 };
	struct err err = ERR_INIT;

	if (a->images)
		image_list(a->images, count_image, &images, &err);
	buf_printf(&layers, "%s/layers/sha256", a->cfg.data_dir);
	count_tasks(buf_str(&a->tasks_dir), tasks, containers);

	write_simple(out, "berth_agent_images", "Images in the agent's image store.", METRIC_GAUGE,
		     (double)images.n);
	write_simple(out, "berth_agent_image_bytes",
		     "Compressed bytes of the images in the agent's image store.", METRIC_GAUGE,
		     (double)images.bytes);
	write_simple(out, "berth_agent_layers",
		     "Unpacked layers in the agent's layer store (shared between images).",
		     METRIC_GAUGE, (double)count_entries(buf_str(&layers)));
	write_simple(out, "berth_agent_pulled_layers_total",
		     "Layer blobs downloaded from registries since the agent started.",
		     METRIC_COUNTER, (double)pull_layers_downloaded());
	write_simple(out, "berth_agent_pulled_bytes_total",
		     "Bytes of layer blobs downloaded from registries since the agent started.",
		     METRIC_COUNTER, (double)pull_bytes_downloaded());
	write_by(out, "berth_agent_tasks",
		 "Tasks the agent keeps, by the status it last reported (NONE: none yet).",
		 "status", task_states, tasks, ARRAY_SIZE(task_states));
	write_by(out, "berth_agent_containers", "Containers of the agent's tasks, by phase.",
		 "phase", phases, containers, ARRAY_SIZE(phases));
	write_simple(out, "berth_agent_containers_running",
		     "Containers of the agent's tasks that are running.", METRIC_GAUGE,
		     (double)containers[1]);
	write_simple(out, "berth_agent_registered",
		     "1 once the agent has registered as a container instance.", METRIC_GAUGE,
		     a->instance_arn[0] ? 1 : 0);
}
