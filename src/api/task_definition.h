/*
 * task_definition.h: what the task definition handlers (task_definitions.c)
 * share with the checks and normalisation of RegisterTaskDefinition's
 * request (task_definition_validate.c).
 */
#ifndef BERTH_API_TASK_DEFINITION_H
#define BERTH_API_TASK_DEFINITION_H

#include <cjson/cJSON.h>

#include "api/api.h"

/* Most containers in one task definition (an ECS service quota). */
#define TD_CONTAINERS_MAX 10

/*
 * Check RegisterTaskDefinition's request (ctx->in) as ECS does and build
 * the task definition document it describes, in the order and with the
 * defaults ECS answers with: the task definition as DescribeTaskDefinition
 * returns it, plus the "tags" list that tags.c keeps in every resource's
 * document. taskDefinitionArn and revision are placeholders ("" and 0) that
 * the caller fills once the revision is allocated; registeredAt is a number
 * of milliseconds. The caller owns *ret_doc. On failure nothing is
 * allocated and err says why (ClientException, or InvalidParameterException
 * for tags), with ECS's wording where it is known.
 */
int ecs_task_definition_build(const struct api_ctx *ctx, cJSON **ret_doc, struct err *err);

#endif
