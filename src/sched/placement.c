/*
 * placement.c: what a task needs, reserving it on an instance, and
 * choosing instances (placement.h). The query language is query.c's.
 *
 * remainingResources holds, as ECS's does, the CPU units and MiB left and,
 * under PORTS and PORTS_UDP, the host ports in use (those the agent
 * reserved at registration and those of the tasks placed there).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/util.h"
#include "sched/placement.h"
#include "core/banned.h"

/* --- needs ------------------------------------------------------------- */

static int64_t number_or_string(const cJSON *obj, const char *key)
{
	const cJSON *v = json_get(obj, key);
	int64_t n = 0;

	if (cJSON_IsNumber(v))
		return (int64_t)v->valuedouble;
	if (cJSON_IsString(v) && parse_int64(v->valuestring, 0, INT64_C(1) << 40, &n) == 0)
		return n;
	return 0;
}

static const cJSON *override_for(const cJSON *overrides, const char *name)
{
	const cJSON *list = json_arr(overrides, "containerOverrides");

	for (const cJSON *o = list ? list->child : NULL; o; o = o->next)
		if (name && json_str(o, "name") && !strcmp(json_str(o, "name"), name))
			return o;
	return NULL;
}

static int add_port(uint16_t *ports, size_t *n, int64_t port, const char *proto, struct err *err)
{
	for (size_t i = 0; i < *n; i++)
		if (ports[i] == port)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "host port %lld/%s is mapped twice in the task",
				       (long long)port, proto);
	if (*n >= PLACEMENT_PORTS_MAX)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "a task maps at most %d host ports", PLACEMENT_PORTS_MAX);
	ports[(*n)++] = (uint16_t)port;
	return 0;
}

int placement_task_needs(const cJSON *td, const cJSON *overrides, struct placement_needs *ret,
			 struct err *err)
{
	const char *mode = json_str(td, "networkMode");
	bool container_port = mode && (!strcmp(mode, "host") || !strcmp(mode, "awsvpc"));
	const cJSON *defs = json_arr(td, "containerDefinitions");
	int64_t cpu = 0, memory = 0;

	memset(ret, 0, sizeof(*ret));
	for (const cJSON *d = defs ? defs->child : NULL; d; d = d->next) {
		const cJSON *o = override_for(overrides, json_str(d, "name"));
		const cJSON *pm = json_arr(d, "portMappings");
		int64_t c_mem = json_int(o && json_has(o, "memory") ? o : d, "memory", 0);
		int64_t c_res = json_int(o && json_has(o, "memoryReservation") ? o : d,
					 "memoryReservation", 0);

		cpu += json_int(o && json_has(o, "cpu") ? o : d, "cpu", 0);
		memory += c_mem ? c_mem : c_res;
		for (const cJSON *p = pm ? pm->child : NULL; p; p = p->next) {
			int64_t port = json_int(p, "hostPort", 0);
			const char *proto = json_str(p, "protocol");
			bool udp = proto && !strcmp(proto, "udp");
			int r;

			if (container_port && !port)
				port = json_int(p, "containerPort", 0);
			if (port <= 0 || port > 65535)
				continue; /* a dynamic port: chosen on the instance */
			r = udp ? add_port(ret->udp, &ret->n_udp, port, "udp", err)
				: add_port(ret->tcp, &ret->n_tcp, port, "tcp", err);
			if (r < 0)
				return r;
		}
	}
	/* the task-level sizes, when set, are what the task reserves */
	if (number_or_string(overrides, "cpu"))
		cpu = number_or_string(overrides, "cpu");
	else if (number_or_string(td, "cpu"))
		cpu = number_or_string(td, "cpu");
	if (number_or_string(overrides, "memory"))
		memory = number_or_string(overrides, "memory");
	else if (number_or_string(td, "memory"))
		memory = number_or_string(td, "memory");
	ret->cpu = cpu;
	ret->memory = memory;
	return 0;
}

cJSON *placement_needs_to_json(const struct placement_needs *needs)
{
	cJSON *o = cJSON_CreateObject(), *tcp, *udp;

	cJSON_AddNumberToObject(o, "cpu", (double)needs->cpu);
	cJSON_AddNumberToObject(o, "memory", (double)needs->memory);
	tcp = cJSON_AddArrayToObject(o, "tcp");
	udp = cJSON_AddArrayToObject(o, "udp");
	for (size_t i = 0; i < needs->n_tcp; i++)
		cJSON_AddItemToArray(tcp, cJSON_CreateNumber(needs->tcp[i]));
	for (size_t i = 0; i < needs->n_udp; i++)
		cJSON_AddItemToArray(udp, cJSON_CreateNumber(needs->udp[i]));
	return o;
}

void placement_needs_from_json(const cJSON *doc, struct placement_needs *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->cpu = json_int(doc, "cpu", 0);
	ret->memory = json_int(doc, "memory", 0);
	for (const cJSON *p = json_arr(doc, "tcp") ? json_arr(doc, "tcp")->child : NULL;
	     p && ret->n_tcp < PLACEMENT_PORTS_MAX; p = p->next)
		ret->tcp[ret->n_tcp++] = (uint16_t)p->valuedouble;
	for (const cJSON *p = json_arr(doc, "udp") ? json_arr(doc, "udp")->child : NULL;
	     p && ret->n_udp < PLACEMENT_PORTS_MAX; p = p->next)
		ret->udp[ret->n_udp++] = (uint16_t)p->valuedouble;
}

/* --- an instance's resources ------------------------------------------- */

static cJSON *resource(const cJSON *instance_doc, const char *name)
{
	cJSON *list = cJSON_GetObjectItemCaseSensitive(instance_doc, "remainingResources");

	for (cJSON *r = list ? list->child : NULL; r; r = r->next)
		if (json_str(r, "name") && !strcmp(json_str(r, "name"), name))
			return r;
	return NULL;
}

static int64_t remaining(const cJSON *instance_doc, const char *name)
{
	return json_int(resource(instance_doc, name), "integerValue", 0);
}

static void add_integer(cJSON *instance_doc, const char *name, int64_t delta)
{
	cJSON *r = resource(instance_doc, name);
	cJSON *v = r ? cJSON_GetObjectItemCaseSensitive(r, "integerValue") : NULL;

	if (v && cJSON_IsNumber(v))
		cJSON_SetNumberValue(v, v->valuedouble + (double)delta);
}

static bool port_used(const cJSON *instance_doc, const char *name, uint16_t port)
{
	const cJSON *set = json_arr(resource(instance_doc, name), "stringSetValue");
	char s[8];

	snprintf(s, sizeof(s), "%u", port);
	for (const cJSON *p = set ? set->child : NULL; p; p = p->next)
		if (cJSON_IsString(p) && !strcmp(p->valuestring, s))
			return true;
	return false;
}

static void set_ports(cJSON *instance_doc, const char *name, const uint16_t *ports, size_t n,
		      bool add)
{
	cJSON *r = resource(instance_doc, name);
	cJSON *set = r ? cJSON_GetObjectItemCaseSensitive(r, "stringSetValue") : NULL;

	if (!r)
		return;
	if (!set)
		set = cJSON_AddArrayToObject(r, "stringSetValue");
	for (size_t i = 0; i < n; i++) {
		char s[8];
		int idx = 0;

		snprintf(s, sizeof(s), "%u", ports[i]);
		if (add) {
			cJSON_AddItemToArray(set, cJSON_CreateString(s));
			continue;
		}
		for (cJSON *p = set->child; p; p = p->next, idx++)
			if (cJSON_IsString(p) && !strcmp(p->valuestring, s)) {
				cJSON_DeleteItemFromArray(set, idx);
				break;
			}
	}
}

void placement_reserve(cJSON *instance_doc, const struct placement_needs *needs)
{
	add_integer(instance_doc, "CPU", -needs->cpu);
	add_integer(instance_doc, "MEMORY", -needs->memory);
	set_ports(instance_doc, "PORTS", needs->tcp, needs->n_tcp, true);
	set_ports(instance_doc, "PORTS_UDP", needs->udp, needs->n_udp, true);
}

void placement_release(cJSON *instance_doc, const struct placement_needs *needs)
{
	add_integer(instance_doc, "CPU", needs->cpu);
	add_integer(instance_doc, "MEMORY", needs->memory);
	set_ports(instance_doc, "PORTS", needs->tcp, needs->n_tcp, false);
	set_ports(instance_doc, "PORTS_UDP", needs->udp, needs->n_udp, false);
}

/* --- validation -------------------------------------------------------- */

int placement_validate(const cJSON *constraints, const cJSON *strategy, struct err *err)
{
	size_t n = 0;

	for (const cJSON *c = constraints ? constraints->child : NULL; c; c = c->next) {
		const char *type = json_str(c, "type"), *expr = json_str(c, "expression");

		if (++n > PLACEMENT_CONSTRAINTS_MAX)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "at most %d placement constraints",
				       PLACEMENT_CONSTRAINTS_MAX);
		if (type && !strcmp(type, "distinctInstance")) {
			if (expr)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "distinctInstance constraints take no expression");
		} else if (type && !strcmp(type, "memberOf")) {
			struct placement_expr *e;
			int r;

			if (!expr)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "memberOf constraints need an expression");
			r = placement_expr_parse(expr, &e, err);
			if (r < 0)
				return r;
			placement_expr_free(e);
		} else {
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "placement constraint type must be distinctInstance or "
				       "memberOf");
		}
	}
	n = 0;
	for (const cJSON *s = strategy ? strategy->child : NULL; s; s = s->next) {
		const char *type = json_str(s, "type"), *field = json_str(s, "field");

		if (++n > PLACEMENT_STRATEGIES_MAX)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "at most %d placement strategies", PLACEMENT_STRATEGIES_MAX);
		if (type && !strcmp(type, "random")) {
			continue;
		} else if (type && !strcmp(type, "binpack")) {
			if (!field || (strcasecmp(field, "cpu") && strcasecmp(field, "memory")))
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "binpack's field must be cpu or memory");
		} else if (type && !strcmp(type, "spread")) {
			if (!field ||
			    (strcasecmp(field, "instanceId") && strcasecmp(field, "host") &&
			     strncmp(field, "attribute:", 10)) ||
			    !strcmp(field, "attribute:"))
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "spread's field must be instanceId, host or "
					       "attribute:NAME");
		} else {
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "placement strategy type must be random, spread or binpack");
		}
	}
	return 0;
}

/* --- choosing ---------------------------------------------------------- */

struct candidate {
	const struct placement_instance *inst;
	cJSON *doc;	    /* a copy whose resources the choices so far consumed */
	unsigned placed;    /* tasks of this call placed on it */
	unsigned in_group;  /* tasks of the group on it, placed ones included */
	const char *reject; /* why it cannot take the next task, NULL when it can */
};

static const char *resource_reason(const cJSON *doc, const struct placement_needs *needs)
{
	if (remaining(doc, "CPU") < needs->cpu)
		return "RESOURCE:CPU";
	if (remaining(doc, "MEMORY") < needs->memory)
		return "RESOURCE:MEMORY";
	for (size_t i = 0; i < needs->n_tcp; i++)
		if (port_used(doc, "PORTS", needs->tcp[i]))
			return "RESOURCE:PORTS";
	for (size_t i = 0; i < needs->n_udp; i++)
		if (port_used(doc, "PORTS_UDP", needs->udp[i]))
			return "RESOURCE:PORTS_UDP";
	return NULL;
}

/* The value a spread field gives an instance (its id for instanceId and host). */
static const char *spread_value(const struct candidate *c, const char *field)
{
	const cJSON *attrs;

	if (!strcasecmp(field, "instanceId") || !strcasecmp(field, "host"))
		return json_str(c->inst->doc, "containerInstanceArn") ?: "";
	attrs = json_arr(c->inst->doc, "attributes");
	for (const cJSON *a = attrs ? attrs->child : NULL; a; a = a->next)
		if (json_str(a, "name") && !strcmp(json_str(a, "name"), field + 10))
			return json_str(a, "value") ?: "";
	return ""; /* instances without the attribute share one bucket */
}

/* Narrow live[] (indexes into cands) to the best under one strategy; returns the new count. */
static size_t apply_strategy(const cJSON *s, struct candidate *cands, size_t n_cands, size_t *live,
			     size_t n_live)
{
	const char *type = json_str(s, "type"), *field = json_str(s, "field");
	size_t out = 0;

	if (!strcmp(type, "random")) {
		live[0] = live[(size_t)(mono_ns() % n_live)];
		return 1;
	}
	if (!strcmp(type, "binpack")) {
		const char *res = !strcasecmp(field, "cpu") ? "CPU" : "MEMORY";
		int64_t best = INT64_MAX;

		for (size_t i = 0; i < n_live; i++) {
			int64_t left = remaining(cands[live[i]].doc, res);

			if (left < best)
				best = left;
		}
		for (size_t i = 0; i < n_live; i++)
			if (remaining(cands[live[i]].doc, res) == best)
				live[out++] = live[i];
		return out;
	}
	/* spread: the count of the group's tasks per value, over every candidate instance */
	{
		unsigned best = UINT32_MAX;
		unsigned counts[n_live];

		for (size_t i = 0; i < n_live; i++) {
			const char *v = spread_value(&cands[live[i]], field);

			counts[i] = 0;
			for (size_t k = 0; k < n_cands; k++)
				if (!strcmp(spread_value(&cands[k], field), v))
					counts[i] += cands[k].in_group;
			if (counts[i] < best)
				best = counts[i];
		}
		for (size_t i = 0; i < n_live; i++)
			if (counts[i] == best)
				live[out++] = live[i];
	}
	return out;
}

static void add_failure(cJSON *failures, const char *arn, const char *reason)
{
	for (const cJSON *f = failures->child; f; f = f->next)
		if (!strcmp(json_str(f, "arn") ?: "", arn ?: "") &&
		    !strcmp(json_str(f, "reason") ?: "", reason))
			return;
	cJSON *f = cJSON_CreateObject();

	if (arn)
		cJSON_AddStringToObject(f, "arn", arn);
	cJSON_AddStringToObject(f, "reason", reason);
	cJSON_AddItemToArray(failures, f);
}

int placement_choose(const struct placement_request *req,
		     const struct placement_instance *instances, size_t n, int *ret_choice,
		     cJSON *ret_failures, struct err *err)
{
	struct placement_expr *exprs[PLACEMENT_CONSTRAINTS_MAX] = { NULL };
	size_t n_exprs = 0;
	bool distinct = false;
	struct candidate *cands = calloc(n ? n : 1, sizeof(*cands));
	size_t *live = calloc(n ? n : 1, sizeof(*live));
	int r = placement_validate(req->constraints, req->strategy, err);

	if (!cands || !live) {
		r = err_set(err, -ENOMEM, E_SERVER, "out of memory");
		goto out;
	}
	for (const cJSON *c = req->constraints ? req->constraints->child : NULL; r == 0 && c;
	     c = c->next) {
		if (!strcmp(json_str(c, "type"), "distinctInstance"))
			distinct = true;
		else
			r = placement_expr_parse(json_str(c, "expression"), &exprs[n_exprs++], err);
	}
	if (r < 0)
		goto out;

	/* who may take tasks at all */
	for (size_t i = 0; i < n; i++) {
		struct candidate *c = &cands[i];
		const char *status = json_str(instances[i].doc, "status");

		c->inst = &instances[i];
		c->doc = cJSON_Duplicate(instances[i].doc, true);
		for (size_t k = 0; k < instances[i].n_tasks; k++) {
			const char *g = json_str(instances[i].tasks[k], "group");

			if (g && req->group && !strcmp(g, req->group))
				c->in_group++;
		}
		if (!status || strcmp(status, "ACTIVE") != 0 ||
		    !json_bool(instances[i].doc, "agentConnected", false))
			c->reject = status && strcmp(status, "ACTIVE") != 0 ? "INSTANCE" : "AGENT";
		for (size_t e = 0; !c->reject && e < n_exprs; e++)
			if (!placement_expr_match(exprs[e], &instances[i]))
				c->reject = "ATTRIBUTE";
		if (!c->reject && distinct && c->in_group)
			c->reject = "DistinctInstance placement constraint unsatisfied.";
	}

	for (unsigned t = 0; t < req->count; t++) {
		size_t n_live = 0;

		ret_choice[t] = -1;
		for (size_t i = 0; i < n; i++) {
			const char *why = cands[i].reject;

			if (!why && distinct && cands[i].placed)
				why = "DistinctInstance placement constraint unsatisfied.";
			if (!why)
				why = resource_reason(cands[i].doc, req->needs);
			if (why) {
				if (strcmp(why, "INSTANCE") != 0)
					add_failure(ret_failures,
						    json_str(cands[i].inst->doc,
							     "containerInstanceArn"),
						    why);
				continue;
			}
			live[n_live++] = i;
		}
		if (n_live == 0)
			continue;
		if (req->strategy && req->strategy->child) {
			for (const cJSON *s = req->strategy->child; s && n_live > 1; s = s->next)
				n_live = apply_strategy(s, cands, n, live, n_live);
		} else {
			cJSON *spread =
				cJSON_Parse("{\"type\":\"spread\",\"field\":\"instanceId\"}");

			n_live = apply_strategy(spread, cands, n, live, n_live);
			cJSON_Delete(spread);
		}
		ret_choice[t] = (int)live[0];
		cands[live[0]].placed++;
		cands[live[0]].in_group++;
		placement_reserve(cands[live[0]].doc, req->needs);
	}
	/* failures only matter for tasks that were not placed */
	{
		bool all = true;

		for (unsigned t = 0; t < req->count; t++)
			all = all && ret_choice[t] >= 0;
		if (all)
			while (ret_failures->child)
				cJSON_DeleteItemFromArray(ret_failures, 0);
	}
out:
	for (size_t i = 0; cands && i < n; i++)
		cJSON_Delete(cands[i].doc);
	for (size_t e = 0; e < n_exprs; e++)
		placement_expr_free(exprs[e]);
	free(cands);
	free(live);
	return r;
}
