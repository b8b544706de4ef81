/*
 * ecs.h: the ECS operations' handlers (one file per resource family) and
 * the pieces they share: the store's key layout and resolving a resource
 * named by name or ARN.
 *
 * Keys (each value is the resource's JSON document):
 *   cluster/NAME                    a cluster (ACTIVE or INACTIVE)
 *   td/FAMILY/REVISION              a task definition revision; REVISION is
 *                                   zero-padded to 10 digits so keys sort
 *                                   in revision order
 *   tdfam/FAMILY                    {"last": N, "active": A, "inactive": I}:
 *                                   the family's last revision, never
 *                                   reused even after deletion, and how
 *                                   many of its revisions are ACTIVE and
 *                                   INACTIVE
 *   service/CLUSTER/NAME            a service
 *   task/CLUSTER/ID                 a task
 *   itask/CLUSTER/INSTANCE/ID       "": task ID is placed on container
 *                                   instance INSTANCE and has not STOPPED
 *                                   (written with the task, removed when it
 *                                   stops: a poll reads its instance's
 *                                   tasks without scanning the cluster's)
 *   instance/CLUSTER/ID             a container instance
 */
#ifndef BERTH_API_ECS_H
#define BERTH_API_ECS_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "api/api.h"

#define ECS_NAME_MAX 255

/* clusters.c */
int ecs_create_cluster(struct api_ctx *ctx, struct err *err);
int ecs_describe_clusters(struct api_ctx *ctx, struct err *err);
int ecs_list_clusters(struct api_ctx *ctx, struct err *err);
int ecs_update_cluster(struct api_ctx *ctx, struct err *err);
int ecs_update_cluster_settings(struct api_ctx *ctx, struct err *err);
int ecs_delete_cluster(struct api_ctx *ctx, struct err *err);

/* task_definitions.c */
int ecs_register_task_definition(struct api_ctx *ctx, struct err *err);
int ecs_describe_task_definition(struct api_ctx *ctx, struct err *err);
int ecs_list_task_definitions(struct api_ctx *ctx, struct err *err);
int ecs_list_task_definition_families(struct api_ctx *ctx, struct err *err);
int ecs_deregister_task_definition(struct api_ctx *ctx, struct err *err);
int ecs_delete_task_definitions(struct api_ctx *ctx, struct err *err);

/*
 * The task definition ref names (family: its latest ACTIVE revision;
 * family:revision; an ARN), the caller owns *ret_doc. -ENOENT (err
 * untouched) when there is none.
 */
int ecs_task_definition_resolve(const struct api_ctx *ctx, const char *ref, cJSON **ret_doc,
				struct err *err);

/* Write a stored task definition as the API shows it (no tags, times in seconds). */
void ecs_task_definition_write(struct jsonw *w, const cJSON *doc);

/* tasks.c */
int ecs_run_task(struct api_ctx *ctx, struct err *err);
int ecs_start_task(struct api_ctx *ctx, struct err *err);
int ecs_stop_task(struct api_ctx *ctx, struct err *err);
int ecs_describe_tasks(struct api_ctx *ctx, struct err *err);
int ecs_list_tasks(struct api_ctx *ctx, struct err *err);

/*
 * Place and write count tasks as RunTask does, with ctx->in a RunTask
 * request (cluster, taskDefinition, group, startedBy, placement,
 * networkConfiguration, tags; count is not read): on instance_id alone
 * when given, else wherever placement chooses. The tasks written are
 * appended to ret_tasks, the instances that turned some down to
 * ret_failures (placement.h). The service scheduler's way to start tasks.
 */
int ecs_tasks_launch(struct api_ctx *ctx, unsigned count, const char *instance_id, cJSON *ret_tasks,
		     cJSON *ret_failures, struct err *err);

/*
 * Ask task id of cluster to stop (desiredStatus STOPPED, stopCode and
 * stoppedReason as given), under its cluster's instance lock; nothing
 * changes when it is already asked to. *ret_doc (may be NULL) gets the
 * task as it is now, owned by the caller. -ENOENT, err untouched, when
 * there is no such task.
 */
int ecs_task_stop(const struct api_ctx *ctx, const char *cluster, const char *id,
		  const char *stop_code, const char *reason, cJSON **ret_doc, struct err *err);

/* task_state.c: what agents report */
int ecs_submit_task_state_change(struct api_ctx *ctx, struct err *err);
int ecs_submit_container_state_change(struct api_ctx *ctx, struct err *err);

#define ECS_TASK_ID_MAX 64

/*
 * The id of the task ref names in cluster: an id, or an ARN of the long form
 * task/CLUSTER/ID (of this cluster) or the old task/ID. -EINVAL when it
 * names none.
 */
int ecs_task_id(const struct api_ctx *ctx, const char *cluster, const char *ref,
		char ret[ECS_TASK_ID_MAX + 1]);

/* Load task id of cluster (the caller owns *ret_doc); -ENOENT, err untouched, when absent. */
int ecs_task_load(const struct api_ctx *ctx, const char *cluster, const char *id, cJSON **ret_doc,
		  uint64_t *ret_version, struct err *err);

/* Append the key of task id of cluster ("task/CLUSTER/ID"). */
void ecs_task_key(struct buf *key, const char *cluster, const char *id);

/* Append the key of the index entry of task id on instance_id ("itask/CLUSTER/INSTANCE/ID"). */
void ecs_instance_task_key(struct buf *key, const char *cluster, const char *instance_id,
			   const char *id);

/* Write a stored task as a Task (internal members left out; tags only when asked). */
void ecs_task_write(struct jsonw *w, const cJSON *doc, bool tags);

/*
 * A RunTask's, StartTask's or CreateService's networkConfiguration for
 * task definition td, as ECS checks it: required (with subnets, at most
 * 16, and at most 5 securityGroups, no public IP on EC2) for awsvpc,
 * refused for every other network mode (InvalidParameterException).
 */
int ecs_network_configuration_check(const cJSON *td, const cJSON *netconf, struct err *err);

/*
 * Call fn with each task of cluster (a parsed document, borrowed), or with
 * instance_id, each task on that container instance that has not STOPPED
 * (read through the itask/ index, not a scan of the cluster's tasks).
 */
int ecs_tasks_each(const struct api_ctx *ctx, const char *cluster, const char *instance_id,
		   int (*fn)(void *arg, const cJSON *task), void *arg, struct err *err);

/*
 * Call fn with each task of cluster that has not STOPPED, read through the
 * itask/ index: what placement needs, without parsing the stopped ones.
 */
int ecs_live_tasks_each(const struct api_ctx *ctx, const char *cluster,
			int (*fn)(void *arg, const cJSON *task), void *arg, struct err *err);

/*
 * Stop every task of cluster placed on the instance named instance_arn
 * that has not STOPPED:
 * its instance is being deregistered with force, and ECS no longer
 * accounts for such tasks (they are orphaned). Each gets desiredStatus and
 * lastStatus STOPPED, stopCode UserInitiated and a stoppedReason saying
 * so, and gives its resources back. The caller holds the cluster's
 * instance lock.
 */
int ecs_tasks_orphan(const struct api_ctx *ctx, const char *cluster, const char *instance_arn,
		     struct err *err);

/*
 * Remove from the store every task that has been STOPPED since before
 * now_ms - retention_ms (by its stoppedAt; a STOPPED task without one by
 * its createdAt), as ECS stops showing stopped tasks after a while. Tasks
 * not STOPPED are never touched. Each cluster's tasks are removed under
 * its instance lock, in transactions of at most 100 that each check the
 * versions they read (a task written meanwhile is left for the next
 * call). *ret_removed counts the tasks removed.
 */
int ecs_tasks_purge(const struct api_ctx *ctx, int64_t retention_ms, unsigned *ret_removed,
		    struct err *err);
/* services.c */
int ecs_create_service(struct api_ctx *ctx, struct err *err);
int ecs_update_service(struct api_ctx *ctx, struct err *err);
int ecs_delete_service(struct api_ctx *ctx, struct err *err);
int ecs_describe_services(struct api_ctx *ctx, struct err *err);
int ecs_list_services(struct api_ctx *ctx, struct err *err);

/* Append the key of service name of cluster ("service/CLUSTER/NAME"). */
void ecs_service_key(struct buf *key, const char *cluster, const char *name);

/* Load service name of cluster (the caller owns *ret_doc); -ENOENT, err untouched, when absent. */
int ecs_service_load(const struct api_ctx *ctx, const char *cluster, const char *name,
		     cJSON **ret_doc, uint64_t *ret_version, struct err *err);

/* Write doc as its service of cluster if its key is still at version (0: new). */
int ecs_service_save(const struct api_ctx *ctx, const char *cluster, cJSON *doc, uint64_t version,
		     struct err *err);

/* Add an event to the service document doc: newest first, at most 100 kept. */
void ecs_service_event(cJSON *doc, int64_t now_ms, const char *message);

/*
 * Start a deployment of task_definition in the service document doc: it
 * becomes PRIMARY (IN_PROGRESS), the PRIMARY one before it ACTIVE, and the
 * service's taskDefinition follows. Returns the deployment (borrowed).
 */
cJSON *ecs_service_new_deployment(cJSON *doc, const char *task_definition, int64_t now_ms);

/* Write a stored service as a Service (internal members left out; tags only when asked). */
void ecs_service_write(struct jsonw *w, const cJSON *doc, bool tags);

/* container_instances.c */
int ecs_register_container_instance(struct api_ctx *ctx, struct err *err);
int ecs_describe_container_instances(struct api_ctx *ctx, struct err *err);
int ecs_list_container_instances(struct api_ctx *ctx, struct err *err);
int ecs_deregister_container_instance(struct api_ctx *ctx, struct err *err);
int ecs_update_container_instances_state(struct api_ctx *ctx, struct err *err);

/* attributes.c */
int ecs_put_attributes(struct api_ctx *ctx, struct err *err);
int ecs_delete_attributes(struct api_ctx *ctx, struct err *err);
int ecs_list_attributes(struct api_ctx *ctx, struct err *err);

/* tags.c */
int ecs_tag_resource(struct api_ctx *ctx, struct err *err);
int ecs_untag_resource(struct api_ctx *ctx, struct err *err);
int ecs_list_tags_for_resource(struct api_ctx *ctx, struct err *err);

/*
 * Check a request's `tags` list ({key, value}) by the rules of
 * resource_tags.h, InvalidParameterException when it breaks one. NULL is
 * fine.
 */
int ecs_tags_validate(const cJSON *tags, struct err *err);

/*
 * Merge tags (a request's list) into the document's "tags" array (created
 * when missing): a key already there takes the new value. Fails when the
 * result would hold more than RESOURCE_TAGS_MAX tags.
 */
int ecs_tags_merge(cJSON *doc, const cJSON *tags, struct err *err);

/*
 * Resolve a cluster named by name or ARN (NULL: "default") to its name, in
 * ret_name (at least ECS_NAME_MAX + 1 bytes). Fails with
 * ClusterNotFoundException when it is an ARN of another account or region,
 * or not a cluster's ARN.
 */
int ecs_cluster_name(const struct api_ctx *ctx, const char *ref, char *ret_name, struct err *err);

/*
 * Load cluster `name` as a cJSON document (the caller owns it) with the
 * version of its key; ClusterNotFoundException when absent, and when
 * INACTIVE unless allow_inactive.
 */
int ecs_cluster_load(const struct api_ctx *ctx, const char *name, bool allow_inactive,
		     cJSON **ret_doc, uint64_t *ret_version, struct err *err);

/* A container instance id: ECS's are 32 hex digits; berth accepts up to 64 of [0-9A-Za-z-]. */
#define ECS_INSTANCE_ID_MAX 64

/*
 * Resolve a container instance named by id or ARN (the long form
 * container-instance/CLUSTER/ID, whose cluster must be `cluster`, or the
 * old container-instance/ID) to its id, in ret_id (ECS_INSTANCE_ID_MAX + 1
 * bytes). -EINVAL (err untouched) when ref names no instance of cluster.
 */
int ecs_instance_id(const struct api_ctx *ctx, const char *cluster, const char *ref, char *ret_id);

/* Append the key of instance id of cluster ("instance/CLUSTER/ID"). */
void ecs_instance_key(struct buf *key, const char *cluster, const char *id);

/*
 * Add to txn the write of instance id's document doc, checked against
 * version (0: the key must be new), as every writer of an instance does.
 */
void ecs_instance_put(struct store_txn *txn, const char *cluster, const char *id, const cJSON *doc,
		      uint64_t version);

/* Append the ARN of instance id of cluster. */
void ecs_instance_arn(const struct api_ctx *ctx, struct buf *out, const char *cluster,
		      const char *id);

/*
 * The key every write of cluster's container instances locks ("instance/
 * CLUSTER"): one lock per cluster, since PutAttributes changes several
 * instances in one transaction and a thread holds one lock at a time.
 */
void ecs_instance_lock_key(struct buf *key, const char *cluster);

/*
 * Load container instance id of cluster (the caller owns *ret_doc) with its
 * key's version. -ENOENT, err untouched, when there is none.
 */
int ecs_instance_load(const struct api_ctx *ctx, const char *cluster, const char *id,
		      cJSON **ret_doc, uint64_t *ret_version, struct err *err);

/*
 * Check a list of attributes ({name, value, ...}) against the Attribute
 * rules: name 1..128 of letters, digits and - _ / \ .; value, when given,
 * 1..128 of letters, digits, spaces and - _ . @ / \ :, not starting or
 * ending with a space. InvalidParameterException otherwise.
 */
int ecs_attributes_validate(const cJSON *attrs, struct err *err);

/*
 * Set attributes (validated) in doc's "attributes" ({name, value} only; a
 * name already there takes the new value). AttributeLimitExceededException
 * when doc would hold more than ECS_CUSTOM_ATTRIBUTES_MAX custom attributes
 * (those whose names start with neither "ecs." nor "com.amazonaws.ecs.").
 */
#define ECS_CUSTOM_ATTRIBUTES_MAX 10
int ecs_attributes_merge(cJSON *doc, const cJSON *attrs, struct err *err);

/* Whether s is 1..255 letters, digits, hyphens and underscores. */
bool ecs_valid_name(const char *s);

/* The array member `name` of doc, created (or made an array) when it is not one. */
cJSON *ecs_doc_array(cJSON *doc, const char *name);

#endif
