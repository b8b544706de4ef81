/*
 * placement.c: what a task needs, reserving it on an instance, and
 * choosing instances (placement.h). The query language is query.c's.
 *
 * remainingResources holds, as ECS's does, the CPU units and MiB left and,
 * under PORTS and PORTS_UDP, the host ports in use (those the agent
 * reserved at registration and those of the tasks placed there).
 *
 * placement_choose keeps its own tallies per instance (what is left, the
 * tasks placed, the group's tasks) instead of copying documents, and sorts
 * the instances into their spread values once, so that placing each task
 * costs a pass over the instances per strategy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "sched/placement.h"
#include "core/banned.h"

/* No single size berth deals in comes near this; sums of them cannot overflow. */
#define SIZE_MAX_UNITS (INT64_C(1) << 40)

/* --- needs ------------------------------------------------------------- */

static int64_t clamp_size(int64_t v)
{
	return v < 0 ? 0 : v > SIZE_MAX_UNITS ? SIZE_MAX_UNITS : v;
}

/*
 * A task-level size: a number, or a string of a number with an optional
 * fraction and unit ("512", "1 vCPU", "0.5 vcpu", "2GB"), as units. 0 when
 * absent or unreadable (RegisterTaskDefinition refused those already).
 */
static int64_t task_size(const cJSON *obj, const char *key, const char *unit, int64_t scale)
{
	const cJSON *v = json_get(obj, key);
	const char *p;
	int64_t whole = 0, frac = 0, div = 1;

	if (cJSON_IsNumber(v))
		return clamp_size(json_int(obj, key, 0));
	if (!cJSON_IsString(v))
		return 0;
	p = v->valuestring;
	for (; *p >= '0' && *p <= '9' && whole < SIZE_MAX_UNITS; p++)
		whole = whole * 10 + (*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (div < 1000000) {
				frac = frac * 10 + (*p - '0');
				div *= 10;
			}
	while (*p == ' ')
		p++;
	if (!*p)
		return clamp_size(whole);
	if (strcasecmp(p, unit) != 0)
		return 0;
	return clamp_size(whole * scale + frac * scale / div);
}

/* A container's setting as its override (o, may be NULL) leaves it. */
static int64_t container_int(const cJSON *def, const cJSON *o, const char *key)
{
	return clamp_size(json_int(o && json_has(o, key) ? o : def, key, 0));
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
	bool container_port = mode && !strcmp(mode, "host");
	/* an awsvpc task listens on an address of its own: it takes no port of the host */
	bool no_host_ports = mode && !strcmp(mode, "awsvpc");
	const cJSON *defs = json_arr(td, "containerDefinitions");
	int64_t cpu = 0, memory = 0, v;

	memset(ret, 0, sizeof(*ret));
	for (const cJSON *d = defs ? defs->child : NULL; d; d = d->next) {
		const cJSON *o = json_array_find(json_arr(overrides, "containerOverrides"), "name",
						 json_str(d, "name"));
		const cJSON *pm = json_arr(d, "portMappings");
		int64_t reservation = container_int(d, o, "memoryReservation");

		cpu += container_int(d, o, "cpu");
		memory += reservation ? reservation : container_int(d, o, "memory");
		for (const cJSON *p = pm && !no_host_ports ? pm->child : NULL; p; p = p->next) {
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
	if ((v = task_size(overrides, "cpu", "vcpu", 1024)) ||
	    (v = task_size(td, "cpu", "vcpu", 1024)))
		cpu = v;
	if ((v = task_size(overrides, "memory", "gb", 1024)) ||
	    (v = task_size(td, "memory", "gb", 1024)))
		memory = v;
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

static void ports_from_json(const cJSON *list, uint16_t *ports, size_t *n)
{
	for (const cJSON *p = list ? list->child : NULL; p && *n < PLACEMENT_PORTS_MAX; p = p->next)
		if (cJSON_IsNumber(p) && p->valuedouble >= 1 && p->valuedouble <= 65535)
			ports[(*n)++] = (uint16_t)p->valuedouble;
}

void placement_needs_from_json(const cJSON *doc, struct placement_needs *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->cpu = clamp_size(json_int(doc, "cpu", 0));
	ret->memory = clamp_size(json_int(doc, "memory", 0));
	ports_from_json(json_arr(doc, "tcp"), ret->tcp, &ret->n_tcp);
	ports_from_json(json_arr(doc, "udp"), ret->udp, &ret->n_udp);
}

/* --- an instance's resources ------------------------------------------- */

static cJSON *resource(const cJSON *instance_doc, const char *name)
{
	cJSON *list = cJSON_GetObjectItemCaseSensitive(instance_doc, "remainingResources");

	for (cJSON *r = cJSON_IsArray(list) ? list->child : NULL; r; r = r->next)
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

/* Whether any of ports is in the instance's stringSetValue of name. */
static bool any_port_used(const cJSON *instance_doc, const char *name, const uint16_t *ports,
			  size_t n)
{
	const cJSON *set = json_arr(resource(instance_doc, name), "stringSetValue");

	for (const cJSON *p = set && n ? set->child : NULL; p; p = p->next) {
		int64_t used;

		if (!cJSON_IsString(p) || parse_int64(p->valuestring, 0, 65535, &used) < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (ports[i] == used)
				return true;
	}
	return false;
}

static void set_ports(cJSON *instance_doc, const char *name, const uint16_t *ports, size_t n,
		      bool add)
{
	cJSON *r = resource(instance_doc, name);
	cJSON *set = r ? cJSON_GetObjectItemCaseSensitive(r, "stringSetValue") : NULL;

	if (!r || !n)
		return;
	if (!cJSON_IsArray(set)) {
		cJSON_DeleteItemFromObjectCaseSensitive(r, "stringSetValue");
		set = cJSON_AddArrayToObject(r, "stringSetValue");
	}
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

static int check_constraints(const cJSON *constraints, const char *what, struct err *err)
{
	size_t n = 0;

	if (constraints && !cJSON_IsArray(constraints))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER, "%s must be a list", what);
	for (const cJSON *c = constraints ? constraints->child : NULL; c; c = c->next) {
		const char *type = json_str(c, "type"), *expr = json_str(c, "expression");

		if (++n > PLACEMENT_CONSTRAINTS_MAX)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "You can specify a maximum of %d placement constraints.",
				       PLACEMENT_CONSTRAINTS_MAX);
		if (type && !strcmp(type, "distinctInstance")) {
			if (expr)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "distinctInstance placement constraints take no "
					       "expression");
		} else if (type && !strcmp(type, "memberOf")) {
			struct placement_expr *e;
			int r;

			if (!expr)
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "A memberOf placement constraint requires an "
					       "expression.");
			r = placement_expr_parse(expr, &e, err);
			if (r < 0)
				return r;
			placement_expr_free(e);
		} else {
			return err_set(
				err, -EINVAL, E_INVALID_PARAMETER,
				"placement constraint type '%.64s' is not distinctInstance or "
				"memberOf",
				type ? type : "");
		}
	}
	return 0;
}

int placement_validate(const cJSON *constraints, const cJSON *strategy, struct err *err)
{
	size_t n = 0;
	int r = check_constraints(constraints, "placementConstraints", err);

	if (r < 0)
		return r;
	if (strategy && !cJSON_IsArray(strategy))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "placementStrategy must be a list");
	for (const cJSON *s = strategy ? strategy->child : NULL; s; s = s->next) {
		const char *type = json_str(s, "type"), *field = json_str(s, "field");

		if (++n > PLACEMENT_STRATEGIES_MAX)
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "You can specify a maximum of %d placement strategies.",
				       PLACEMENT_STRATEGIES_MAX);
		if (type && !strcmp(type, "random")) {
			continue;
		} else if (type && !strcmp(type, "binpack")) {
			if (!field || (strcasecmp(field, "cpu") && strcasecmp(field, "memory")))
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "binpack's field '%.64s' is not cpu or memory",
					       field ? field : "");
		} else if (type && !strcmp(type, "spread")) {
			if (!field ||
			    (strcasecmp(field, "instanceId") && strcasecmp(field, "host") &&
			     !startswith(field, "attribute:")) ||
			    !strcmp(field, "attribute:"))
				return err_set(err, -EINVAL, E_INVALID_PARAMETER,
					       "spread's field '%.64s' is not instanceId, host or "
					       "attribute:NAME",
					       field ? field : "");
		} else {
			return err_set(err, -EINVAL, E_INVALID_PARAMETER,
				       "placement strategy type '%.64s' is not random, spread or "
				       "binpack",
				       type ? type : "");
		}
	}
	return 0;
}

/* --- choosing ---------------------------------------------------------- */

enum strategy_kind { S_RANDOM, S_BINPACK_CPU, S_BINPACK_MEMORY, S_SPREAD };

struct strategy {
	enum strategy_kind kind;
	const char *attribute; /* S_SPREAD: the attribute's name, NULL for instanceId */
	size_t *bucket;	       /* S_SPREAD: per instance, the first instance sharing its value */
	unsigned *count;       /* S_SPREAD: per bucket, the group's tasks on ACTIVE instances */
};

struct candidate {
	int64_t cpu, memory;	 /* left after this call's choices */
	unsigned placed;	 /* tasks of this call placed on it */
	unsigned in_group;	 /* the group's tasks on it, placed ones included */
	bool active;		 /* ACTIVE: may take tasks, and its tasks count for spread */
	bool tcp_used, udp_used; /* a static port of the task is taken there already */
	const char *reject;	 /* why it takes no task whatever its resources, or NULL */
};

struct chooser {
	const struct placement_request *req;
	const struct placement_instance *inst;
	size_t n;
	struct candidate *cands;
	struct strategy strat[PLACEMENT_STRATEGIES_MAX];
	size_t n_strat;
	uint64_t rng;
};

static const char *attribute_value(const cJSON *doc, const char *name)
{
	const cJSON *attrs = json_arr(doc, "attributes");

	for (const cJSON *a = attrs ? attrs->child : NULL; a; a = a->next)
		if (json_str(a, "name") && !strcmp(json_str(a, "name"), name))
			return json_str(a, "value") ?: "";
	return ""; /* instances without the attribute share one value */
}

struct keyed {
	const char *value;
	size_t index;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->value, y->value);

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Sort the instances into the values of s's attribute: bucket[i] names i's value. */
static int spread_buckets(struct chooser *ch, struct strategy *s)
{
	_cleanup_free_ struct keyed *k = NULL;

	if (!s->attribute) {
		for (size_t i = 0; i < ch->n; i++)
			s->bucket[i] = i;
		return 0;
	}
	k = calloc(ch->n, sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (size_t i = 0; i < ch->n; i++)
		k[i] = (struct keyed){ attribute_value(ch->inst[i].doc, s->attribute), i };
	qsort(k, ch->n, sizeof(*k), keyed_cmp);
	for (size_t i = 0, first = 0; i < ch->n; i++) {
		if (i == 0 || strcmp(k[i].value, k[i - 1].value) != 0)
			first = k[i].index;
		s->bucket[k[i].index] = first;
	}
	return 0;
}

static void add_strategy(struct chooser *ch, const char *type, const char *field)
{
	struct strategy *s = &ch->strat[ch->n_strat++];

	memset(s, 0, sizeof(*s));
	if (!strcmp(type, "random")) {
		s->kind = S_RANDOM;
	} else if (!strcmp(type, "binpack")) {
		s->kind = strcasecmp(field, "cpu") ? S_BINPACK_MEMORY : S_BINPACK_CPU;
	} else {
		s->kind = S_SPREAD;
		s->attribute =
			startswith(field, "attribute:") ? field + strlen("attribute:") : NULL;
	}
}

static uint64_t next_random(uint64_t *state)
{
	/* splitmix64: spreads the seed's bits; placement needs no more */
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Keep in live[] (indexes of candidates) the best under s; returns how many remain. */
static size_t narrow(struct chooser *ch, const struct strategy *s, size_t *live, size_t n_live)
{
	int64_t best = INT64_MAX;
	size_t out = 0;

	if (s->kind == S_RANDOM) {
		live[0] = live[next_random(&ch->rng) % n_live];
		return 1;
	}
	for (size_t i = 0; i < n_live; i++) {
		const struct candidate *c = &ch->cands[live[i]];
		int64_t v = s->kind == S_BINPACK_CPU	  ? c->cpu
			    : s->kind == S_BINPACK_MEMORY ? c->memory
							  : s->count[s->bucket[live[i]]];

		if (v < best)
			best = v;
	}
	for (size_t i = 0; i < n_live; i++) {
		const struct candidate *c = &ch->cands[live[i]];
		int64_t v = s->kind == S_BINPACK_CPU	  ? c->cpu
			    : s->kind == S_BINPACK_MEMORY ? c->memory
							  : s->count[s->bucket[live[i]]];

		if (v == best)
			live[out++] = live[i];
	}
	return out;
}

/* Why candidate i cannot take the next task, or NULL when it can. */
static const char *refusal(const struct chooser *ch, size_t i, bool distinct)
{
	const struct candidate *c = &ch->cands[i];
	const struct placement_needs *needs = ch->req->needs;

	/* a disconnected agent or a missing attribute: no resources make up for it */
	if (c->reject && (strcmp(c->reject, PLACEMENT_REASON_AGENT) == 0 ||
			  strcmp(c->reject, PLACEMENT_REASON_ATTRIBUTE) == 0))
		return c->reject;
	/* the guide's order: resources, then constraints */
	if (c->cpu < needs->cpu)
		return PLACEMENT_REASON_CPU;
	if (c->memory < needs->memory)
		return PLACEMENT_REASON_MEMORY;
	if (c->tcp_used || (c->placed && needs->n_tcp))
		return PLACEMENT_REASON_PORTS;
	if (c->udp_used || (c->placed && needs->n_udp))
		return PLACEMENT_REASON_PORTS_UDP;
	if (c->reject)
		return c->reject;
	if (distinct && c->in_group)
		return PLACEMENT_REASON_DISTINCT;
	return NULL;
}

static void add_failure(cJSON *failures, const char *arn, const char *reason)
{
	cJSON *f = cJSON_CreateObject();

	if (arn)
		cJSON_AddStringToObject(f, "arn", arn);
	cJSON_AddStringToObject(f, "reason", reason);
	cJSON_AddItemToArray(failures, f);
}

/* Parse the memberOf expressions of list into exprs[*n]; note a distinctInstance. */
static int gather_constraints(const cJSON *list, struct placement_expr **exprs, size_t *n,
			      bool *distinct, struct err *err)
{
	for (const cJSON *c = list ? list->child : NULL; c; c = c->next) {
		int r;

		if (!strcmp(json_str(c, "type"), "distinctInstance")) {
			*distinct = true;
			continue;
		}
		r = placement_expr_parse(json_str(c, "expression"), &exprs[*n], err);
		if (r < 0)
			return r;
		(*n)++;
	}
	return 0;
}

/* Whether the instance has every attribute of required ({name, value?} each). */
static bool has_attributes(const cJSON *instance_doc, const cJSON *required)
{
	const cJSON *attrs = json_arr(instance_doc, "attributes");

	for (const cJSON *q = required ? required->child : NULL; q; q = q->next) {
		const cJSON *a = json_array_find(attrs, "name", json_str(q, "name"));
		const char *want = json_str(q, "value");

		if (!json_str(q, "name"))
			continue;
		if (!a || (want && strcmp(json_str(a, "value") ?: "", want) != 0))
			return false;
	}
	return true;
}

static void setup_candidate(struct chooser *ch, size_t i, struct placement_expr *const *exprs,
			    size_t n_exprs)
{
	const struct placement_instance *pi = &ch->inst[i];
	const struct placement_needs *needs = ch->req->needs;
	struct candidate *c = &ch->cands[i];
	const char *group = ch->req->group;

	c->active = !strcmp(json_str(pi->doc, "status") ?: "", "ACTIVE");
	c->cpu = remaining(pi->doc, "CPU");
	c->memory = remaining(pi->doc, "MEMORY");
	c->tcp_used = any_port_used(pi->doc, "PORTS", needs->tcp, needs->n_tcp);
	c->udp_used = any_port_used(pi->doc, "PORTS_UDP", needs->udp, needs->n_udp);
	for (size_t k = 0; group && k < pi->n_tasks; k++) {
		const char *g = json_str(pi->tasks[k], "group");

		if (g && !strcmp(g, group))
			c->in_group++;
	}
	if (!json_bool(pi->doc, "agentConnected", false))
		c->reject = PLACEMENT_REASON_AGENT;
	else if (!has_attributes(pi->doc, ch->req->required_attributes))
		c->reject = PLACEMENT_REASON_ATTRIBUTE;
	for (size_t e = 0; !c->reject && e < n_exprs; e++)
		if (!placement_expr_match(exprs[e], pi))
			c->reject = PLACEMENT_REASON_MEMBER_OF;
}

int placement_choose(const struct placement_request *req,
		     const struct placement_instance *instances, size_t n, int *ret_choice,
		     cJSON *ret_failures, struct err *err)
{
	struct placement_expr *exprs[2 * PLACEMENT_CONSTRAINTS_MAX] = { NULL };
	struct chooser ch = { .req = req, .inst = instances, .n = n };
	_cleanup_free_ size_t *live = NULL, *buckets = NULL;
	_cleanup_free_ unsigned *counts = NULL;
	size_t n_exprs = 0;
	bool distinct = false;
	int r;

	for (unsigned t = 0; t < req->count; t++)
		ret_choice[t] = -1;
	r = placement_validate(req->constraints, req->strategy, err);
	if (r == 0)
		r = check_constraints(req->definition_constraints,
				      "the task definition's placementConstraints", err);
	if (r == 0)
		r = gather_constraints(req->constraints, exprs, &n_exprs, &distinct, err);
	if (r == 0)
		r = gather_constraints(req->definition_constraints, exprs, &n_exprs, &distinct,
				       err);
	if (r < 0 || n == 0)
		goto out;

	if (req->strategy && req->strategy->child) {
		for (const cJSON *s = req->strategy->child; s; s = s->next)
			add_strategy(&ch, json_str(s, "type"), json_str(s, "field") ?: "");
	} else {
		add_strategy(&ch, "spread", "attribute:ecs.availability-zone");
		add_strategy(&ch, "spread", "instanceId");
	}
	ch.cands = calloc(n, sizeof(*ch.cands));
	live = calloc(n, sizeof(*live));
	buckets = calloc(n * ch.n_strat, sizeof(*buckets));
	counts = calloc(n * ch.n_strat, sizeof(*counts));
	if (!ch.cands || !live || !buckets || !counts) {
		r = err_set(err, -ENOMEM, E_SERVER, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		setup_candidate(&ch, i, exprs, n_exprs);
	for (size_t s = 0; s < ch.n_strat; s++) {
		struct strategy *st = &ch.strat[s];

		if (st->kind != S_SPREAD)
			continue;
		st->bucket = buckets + s * n;
		st->count = counts + s * n;
		if (spread_buckets(&ch, st) < 0) {
			r = err_set(err, -ENOMEM, E_SERVER, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			if (ch.cands[i].active)
				st->count[st->bucket[i]] += ch.cands[i].in_group;
	}
	ch.rng = mono_ns() ^ (uint64_t)(uintptr_t)&ch;

	for (unsigned t = 0; t < req->count; t++) {
		size_t n_live = 0, pick;

		for (size_t i = 0; i < n; i++)
			if (ch.cands[i].active && !refusal(&ch, i, distinct))
				live[n_live++] = i;
		if (n_live == 0) {
			/* nothing changes from here on: every later task fails the same way */
			for (size_t i = 0; i < n; i++)
				if (ch.cands[i].active)
					add_failure(
						ret_failures,
						json_str(instances[i].doc, "containerInstanceArn"),
						refusal(&ch, i, distinct));
			break;
		}
		for (size_t s = 0; s < ch.n_strat && n_live > 1; s++)
			n_live = narrow(&ch, &ch.strat[s], live, n_live);
		pick = live[0];
		ret_choice[t] = (int)pick;
		ch.cands[pick].placed++;
		ch.cands[pick].in_group++;
		ch.cands[pick].cpu -= req->needs->cpu;
		ch.cands[pick].memory -= req->needs->memory;
		for (size_t s = 0; s < ch.n_strat; s++)
			if (ch.strat[s].kind == S_SPREAD)
				ch.strat[s].count[ch.strat[s].bucket[pick]]++;
	}
out:
	for (size_t e = 0; e < n_exprs; e++)
		placement_expr_free(exprs[e]);
	free(ch.cands);
	return r;
}
