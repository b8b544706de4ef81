/*
 * ecs.c: the table of ECS operations berth serves. An operation in AWS's
 * model but not in this table is answered with UnknownOperationException.
 * Rows are sorted by name (protocol.c searches them by bisection).
 */
#include "api/ecs.h"
#include "api/model.h"
#include "core/cleanup.h"
#include "core/banned.h"

static const struct api_operation ecs_ops[] = {
	{ "CreateCluster", ecs_create_cluster },
	{ "CreateService", ecs_create_service },
	{ "DeleteAttributes", ecs_delete_attributes },
	{ "DeleteCluster", ecs_delete_cluster },
	{ "DeleteService", ecs_delete_service },
	{ "DeleteTaskDefinitions", ecs_delete_task_definitions },
	{ "DeregisterContainerInstance", ecs_deregister_container_instance },
	{ "DeregisterTaskDefinition", ecs_deregister_task_definition },
	{ "DescribeClusters", ecs_describe_clusters },
	{ "DescribeContainerInstances", ecs_describe_container_instances },
	{ "DescribeServices", ecs_describe_services },
	{ "DescribeTaskDefinition", ecs_describe_task_definition },
	{ "DescribeTasks", ecs_describe_tasks },
	{ "ListAttributes", ecs_list_attributes },
	{ "ListClusters", ecs_list_clusters },
	{ "ListContainerInstances", ecs_list_container_instances },
	{ "ListServices", ecs_list_services },
	{ "ListTagsForResource", ecs_list_tags_for_resource },
	{ "ListTaskDefinitionFamilies", ecs_list_task_definition_families },
	{ "ListTaskDefinitions", ecs_list_task_definitions },
	{ "ListTasks", ecs_list_tasks },
	{ "PutAttributes", ecs_put_attributes },
	{ "RegisterContainerInstance", ecs_register_container_instance },
	{ "RegisterTaskDefinition", ecs_register_task_definition },
	{ "RunTask", ecs_run_task },
	{ "StartTask", ecs_start_task },
	{ "StopTask", ecs_stop_task },
	{ "SubmitContainerStateChange", ecs_submit_container_state_change },
	{ "SubmitTaskStateChange", ecs_submit_task_state_change },
	{ "TagResource", ecs_tag_resource },
	{ "UntagResource", ecs_untag_resource },
	{ "UpdateCluster", ecs_update_cluster },
	{ "UpdateClusterSettings", ecs_update_cluster_settings },
	{ "UpdateContainerInstancesState", ecs_update_container_instances_state },
	{ "UpdateService", ecs_update_service },
};

const struct api_service api_ecs = {
	.target_prefix = "AmazonEC2ContainerServiceV20141113",
	.signing_name = "ecs",
	.model = &model_ecs,
	.ops = ecs_ops,
	.n_ops = ARRAY_SIZE(ecs_ops),
};
