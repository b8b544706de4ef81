/*
 * test_validate.c: request validation against the generated ECS, ECR and
 * Logs models (api/validate.c), and against a small hand-written model with
 * a recursive shape to check the depth limit, which no AWS model has today.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "api/model.h"
#include "api/validate.h"
#include "core/buf.h"
#include "core/err.h"

#include "core/banned.h"

/* Validate json (which must parse) for svc's operation opname. */
static int validate(const struct model_service *svc, const char *opname, const char *json,
		    struct err *err)
{
	const struct model_operation *op = model_find_operation(svc, opname);
	cJSON *input;
	int r;

	assert_non_null(op);
	input = cJSON_Parse(json);
	if (!input)
		fail_msg("test JSON does not parse: %s", json);
	r = model_validate(svc, op, input, err);
	cJSON_Delete(input);
	return r;
}

/* The request is valid, and err is left untouched. */
static void expect_ok(const struct model_service *svc, const char *opname, const char *json)
{
	struct err err = { 12345, E_CONFLICT, "untouched" };
	int r = validate(svc, opname, json, &err);

	if (r != 0)
		fail_msg("%s rejected: %s (%s)", opname, err.msg, err_kind_type(err.kind));
	assert_int_equal(err.code, 12345);
	assert_int_equal(err.kind, E_CONFLICT);
	assert_string_equal(err.msg, "untouched");
}

/* The request is refused with kind, and the message is exactly msg. */
static void expect_err(const struct model_service *svc, const char *opname, const char *json,
		       enum err_kind kind, const char *msg)
{
	struct err err = ERR_INIT;
	int r = validate(svc, opname, json, &err);

	if (r == 0)
		fail_msg("%s accepted: %s", opname, json);
	assert_int_equal(r, err.code);
	assert_true(r == -EINVAL || r == -E2BIG);
	if (err.kind != kind || strcmp(err.msg, msg) != 0)
		fail_msg("%s: got %s \"%s\", want %s \"%s\"", opname, err_kind_type(err.kind),
			 err.msg, err_kind_type(kind), msg);
}

static void test_unknown_operation(void **state)
{
	(void)state;
	assert_null(model_find_operation(&model_ecs, "NoSuchOperation"));
	assert_null(model_find_operation(&model_ecs, ""));
	assert_null(model_find_operation(&model_ecs, NULL));
	/* AWS matches operation names case-sensitively */
	assert_null(model_find_operation(&model_ecs, "registerTaskDefinition"));
	assert_null(model_find_operation(&model_ecs, "RegisterTaskDefinitionX"));
	/* an operation of another service */
	assert_null(model_find_operation(&model_ecs, "PutLogEvents"));
	assert_null(model_find_operation(&model_logs, "RegisterTaskDefinition"));
}

static void check_service(const struct model_service *svc)
{
	size_t i, j;

	assert_true(svc->noperations > 0);
	for (i = 0; i < svc->noperations; i++) {
		const struct model_operation *op = &svc->operations[i];
		cJSON *empty;
		struct err err = ERR_INIT;
		int r;

		assert_ptr_equal(model_find_operation(svc, op->name), op);
		if (i > 0)
			assert_true(strcmp(svc->operations[i - 1].name, op->name) < 0);
		assert_true(op->input == MODEL_NO_SHAPE || op->input < svc->nshapes);
		for (j = 0; j < op->nerrors; j++)
			assert_true(strlen(model_operation_error(svc, op, j)) > 0);
		/* {} is either fine or lacks a required member; never anything else */
		empty = cJSON_CreateObject();
		r = model_validate(svc, op, empty, &err);
		cJSON_Delete(empty);
		if (r != 0) {
			assert_int_equal(err.kind, E_INVALID_PARAMETER);
			assert_true(strncmp(err.msg, "Required parameter '", 20) == 0 ||
				    strstr(err.msg, "exactly one member") != NULL);
		}
	}
}

static void test_every_operation_findable(void **state)
{
	(void)state;
	check_service(&model_ecs);
	check_service(&model_ecr);
	check_service(&model_logs);
	assert_string_equal(model_ecs.target_prefix, "AmazonEC2ContainerServiceV20141113");
	assert_string_equal(model_ecr.target_prefix, "AmazonEC2ContainerRegistry_V20150921");
	assert_string_equal(model_logs.target_prefix, "Logs_20140328");
}

static void test_ecr_and_logs_operations(void **state)
{
	const struct model_operation *op;
	size_t i;
	bool found = false;

	(void)state;
	op = model_find_operation(&model_ecr, "BatchGetImage");
	assert_non_null(op);
	assert_string_equal(op->output, "BatchGetImageResponse");
	assert_non_null(model_find_operation(&model_ecr, "PutImage"));
	assert_non_null(model_find_operation(&model_ecr, "GetAuthorizationToken"));
	op = model_find_operation(&model_logs, "CreateLogGroup");
	assert_non_null(op);
	assert_null(op->output); /* CreateLogGroup answers with an empty body */
	for (i = 0; i < op->nerrors; i++)
		if (strcmp(model_operation_error(&model_logs, op, i),
			   "ResourceAlreadyExistsException") == 0)
			found = true;
	assert_true(found);
	assert_non_null(model_find_operation(&model_logs, "PutLogEvents"));
	assert_non_null(model_find_operation(&model_logs, "GetLogEvents"));

	expect_ok(&model_logs, "CreateLogGroup", "{\"logGroupName\": \"/ecs/web\"}");
	expect_ok(&model_logs, "PutLogEvents",
		  "{\"logGroupName\": \"/ecs/web\", \"logStreamName\": \"web/app/1\","
		  " \"logEvents\": [{\"timestamp\": 1700000000000, \"message\": \"hello\"},"
		  " {\"timestamp\": 1700000000001, \"message\": \"world\"}]}");
	expect_ok(&model_ecr, "BatchGetImage",
		  "{\"repositoryName\": \"web\", \"imageIds\": [{\"imageTag\": \"latest\"}],"
		  " \"acceptedMediaTypes\": [\"application/vnd.oci.image.manifest.v1+json\"]}");
	expect_ok(&model_ecr, "UploadLayerPart",
		  "{\"repositoryName\": \"web\", \"uploadId\": \"u1\", \"partFirstByte\": 0,"
		  " \"partLastByte\": 4, \"layerPartBlob\": \"aGVsbG8=\"}");
}

static const char minimal_task_definition[] =
	"{\"family\": \"web\", \"containerDefinitions\": [{\"name\": \"app\","
	" \"image\": \"nginx:1.25\", \"memory\": 128}]}";

/* What `aws ecs register-task-definition` sends for a typical Fargate service. */
static const char large_task_definition[] =
	"{"
	"\"family\": \"web-frontend\","
	"\"taskRoleArn\": \"arn:aws:iam::123456789012:role/web-task\","
	"\"executionRoleArn\": \"arn:aws:iam::123456789012:role/ecsTaskExecutionRole\","
	"\"networkMode\": \"awsvpc\","
	"\"requiresCompatibilities\": [\"FARGATE\", \"EC2\"],"
	"\"cpu\": \"1024\", \"memory\": \"2048\","
	"\"runtimePlatform\": {\"cpuArchitecture\": \"ARM64\","
	" \"operatingSystemFamily\": \"LINUX\"},"
	"\"ephemeralStorage\": {\"sizeInGiB\": 30},"
	"\"containerDefinitions\": ["
	" {\"name\": \"app\", \"image\": "
	"\"123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2\","
	"  \"cpu\": 768, \"memory\": 1536, \"memoryReservation\": 1024, \"essential\": true,"
	"  \"portMappings\": [{\"containerPort\": 8080, \"hostPort\": 8080, \"protocol\": \"tcp\","
	"   \"name\": \"http\", \"appProtocol\": \"http\"},"
	"   {\"containerPort\": 9090, \"protocol\": \"udp\"}],"
	"  \"environment\": [{\"name\": \"PORT\", \"value\": \"8080\"},"
	"   {\"name\": \"LOG_LEVEL\", \"value\": \"info\"}],"
	"  \"environmentFiles\": [{\"value\": \"arn:aws:s3:::bucket/web.env\", \"type\": \"s3\"}],"
	"  \"secrets\": [{\"name\": \"DB_PASSWORD\","
	"   \"valueFrom\": \"arn:aws:ssm:eu-west-1:123456789012:parameter/db\"}],"
	"  \"entryPoint\": [\"/bin/sh\", \"-c\"], \"command\": [\"exec web --port 8080\"],"
	"  \"workingDirectory\": \"/srv\", \"user\": \"1000:1000\","
	"  \"readonlyRootFilesystem\": true, \"privileged\": false,"
	"  \"mountPoints\": [{\"sourceVolume\": \"data\", \"containerPath\": \"/data\","
	"   \"readOnly\": false}],"
	"  \"dependsOn\": [{\"containerName\": \"log_router\", \"condition\": \"START\"}],"
	"  \"startTimeout\": 60, \"stopTimeout\": 30,"
	"  \"ulimits\": [{\"name\": \"nofile\", \"softLimit\": 65536, \"hardLimit\": 65536}],"
	"  \"linuxParameters\": {\"initProcessEnabled\": true,"
	"   \"capabilities\": {\"add\": [\"NET_BIND_SERVICE\"], \"drop\": [\"ALL\"]},"
	"   \"tmpfs\": [{\"containerPath\": \"/tmp\", \"size\": 64, \"mountOptions\": "
	"[\"noexec\"]}]},"
	"  \"dockerLabels\": {\"com.example.team\": \"frontend\", \"com.example.tier\": \"web\"},"
	"  \"healthCheck\": {\"command\": [\"CMD-SHELL\", \"curl -f http://localhost:8080/ || exit "
	"1\"],"
	"   \"interval\": 30, \"timeout\": 5, \"retries\": 3, \"startPeriod\": 10},"
	"  \"logConfiguration\": {\"logDriver\": \"awslogs\", \"options\": {"
	"   \"awslogs-group\": \"/ecs/web\", \"awslogs-region\": \"eu-west-1\","
	"   \"awslogs-stream-prefix\": \"web\"},"
	"   \"secretOptions\": [{\"name\": \"token\", \"valueFrom\": \"arn:aws:ssm:x\"}]},"
	"  \"systemControls\": [{\"namespace\": \"net.core.somaxconn\", \"value\": \"1024\"}],"
	"  \"resourceRequirements\": [{\"value\": \"1\", \"type\": \"GPU\"}],"
	"  \"restartPolicy\": {\"enabled\": true, \"ignoredExitCodes\": [0, 143],"
	"   \"restartAttemptPeriod\": 300}"
	" },"
	" {\"name\": \"log_router\", \"image\": \"amazon/aws-for-fluent-bit:stable\","
	"  \"essential\": true, \"memoryReservation\": 50,"
	"  \"firelensConfiguration\": {\"type\": \"fluentbit\","
	"   \"options\": {\"enable-ecs-log-metadata\": \"true\"}},"
	"  \"user\": \"0\"}"
	"],"
	"\"volumes\": [{\"name\": \"data\", \"efsVolumeConfiguration\": {"
	" \"fileSystemId\": \"fs-12345678\", \"rootDirectory\": \"/\","
	" \"transitEncryption\": \"ENABLED\", \"transitEncryptionPort\": 2049,"
	" \"authorizationConfig\": {\"accessPointId\": \"fsap-1234\", \"iam\": \"ENABLED\"}}},"
	" {\"name\": \"scratch\", \"host\": {\"sourcePath\": \"/var/scratch\"}}],"
	"\"placementConstraints\": [{\"type\": \"memberOf\","
	" \"expression\": \"attribute:ecs.availability-zone in [eu-west-1a, eu-west-1b]\"}],"
	"\"pidMode\": \"task\", \"ipcMode\": \"none\","
	"\"tags\": [{\"key\": \"team\", \"value\": \"frontend\"},"
	" {\"key\": \"cost-centre\", \"value\": \"\"}],"
	"\"enableFaultInjection\": false"
	"}";

static void test_register_task_definition_valid(void **state)
{
	(void)state;
	expect_ok(&model_ecs, "RegisterTaskDefinition", minimal_task_definition);
	expect_ok(&model_ecs, "RegisterTaskDefinition", large_task_definition);
	/* members the model does not know are ignored, however deep they go */
	expect_ok(&model_ecs, "RegisterTaskDefinition",
		  "{\"family\": \"web\", \"containerDefinitions\": [],"
		  " \"bogus\": {\"a\": [[[[[[[[[[{\"b\": 1}]]]]]]]]]]},"
		  " \"Family\": 42}");
}

static void test_missing_required(void **state)
{
	(void)state;
	expect_err(&model_ecs, "RegisterTaskDefinition", "{\"containerDefinitions\": []}",
		   E_INVALID_PARAMETER, "Required parameter 'family' is missing");
	expect_err(&model_ecs, "RegisterTaskDefinition", "{\"family\": \"web\"}",
		   E_INVALID_PARAMETER, "Required parameter 'containerDefinitions' is missing");
	/* member names are case-sensitive: "Family" is an unknown member */
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"Family\": \"web\", \"containerDefinitions\": []}", E_INVALID_PARAMETER,
		   "Required parameter 'family' is missing");
	expect_err(&model_logs, "PutLogEvents",
		   "{\"logGroupName\": \"g\", \"logStreamName\": \"s\","
		   " \"logEvents\": [{\"timestamp\": 1}]}",
		   E_INVALID_PARAMETER, "Required parameter 'logEvents[0].message' is missing");
}

static void test_missing_nested_required(void **state)
{
	(void)state;
	/* Secret requires name and valueFrom */
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [{\"name\": \"a\"},"
		   " {\"name\": \"b\", \"secrets\": [{\"name\": \"X\", \"valueFrom\": \"arn\"},"
		   " {\"name\": \"Y\"}]}]}",
		   E_INVALID_PARAMETER,
		   "Required parameter 'containerDefinitions[1].secrets[1].valueFrom' is missing");
	/* Ulimit requires name, softLimit and hardLimit */
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [{\"ulimits\":"
		   " [{\"name\": \"nofile\", \"softLimit\": 1024}]}]}",
		   E_INVALID_PARAMETER,
		   "Required parameter 'containerDefinitions[0].ulimits[0].hardLimit' is missing");
	/* Device, two structures down inside linuxParameters */
	expect_err(
		&model_ecs, "RegisterTaskDefinition",
		"{\"family\": \"web\", \"containerDefinitions\": [{\"linuxParameters\":"
		" {\"devices\": [{\"containerPath\": \"/dev/fuse\"}]}}]}",
		E_INVALID_PARAMETER,
		"Required parameter 'containerDefinitions[0].linuxParameters.devices[0].hostPath'"
		" is missing");
	/* KeyValuePair and Tag have no required members: empty ones are fine */
	expect_ok(&model_ecs, "RegisterTaskDefinition",
		  "{\"family\": \"web\", \"containerDefinitions\": [{\"environment\": [{}]}],"
		  " \"tags\": [{}]}");
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [{\"name\": \"a\"},"
		   " {\"name\": \"b\", \"memory\": \"512\"}]}",
		   E_SERIALIZATION,
		   "STRING_VALUE can not be converted to an Integer at "
		   "'containerDefinitions[1].memory'");
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [{\"portMappings\":"
		   " [{\"containerPort\": 80}, {\"containerPort\": 80.5}]}]}",
		   E_SERIALIZATION,
		   "NUMBER_VALUE 80.5 can not be converted to an Integer at"
		   " 'containerDefinitions[0].portMappings[1].containerPort'");
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [{\"cpu\": 2147483648}]}",
		   E_SERIALIZATION,
		   "NUMBER_VALUE 2147483648 can not be converted to an Integer at"
		   " 'containerDefinitions[0].cpu'");
	expect_ok(&model_ecs, "RegisterTaskDefinition",
		  "{\"family\": \"web\", \"containerDefinitions\": [{\"cpu\": 2147483647},"
		  " {\"cpu\": -2147483648}, {\"cpu\": 1.0}]}");
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": {\"name\": \"a\"}}",
		   E_SERIALIZATION,
		   "Start of structure or map found where not expected at 'containerDefinitions'");
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": [\"web\"], \"containerDefinitions\": []}", E_SERIALIZATION,
		   "Start of list found where not expected at 'family'");
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [{\"essential\": \"true\"}]}",
		   E_SERIALIZATION,
		   "STRING_VALUE can not be converted to a Boolean at"
		   " 'containerDefinitions[0].essential'");
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": 7, \"containerDefinitions\": []}", E_SERIALIZATION,
		   "NUMBER_VALUE can not be converted to a String at 'family'");
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [\"app\"]}", E_SERIALIZATION,
		   "STRING_VALUE can not be converted to a Structure at 'containerDefinitions[0]'");
	/* a map value, quoted with its key */
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [{\"dockerLabels\":"
		   " {\"ok\": \"yes\", \"com.example.port\": 8080}}]}",
		   E_SERIALIZATION,
		   "NUMBER_VALUE can not be converted to a String at"
		   " 'containerDefinitions[0].dockerLabels[\"com.example.port\"]'");
	/* timestamps are epoch seconds, as numbers */
	expect_ok(&model_ecs, "SubmitTaskStateChange",
		  "{\"pullStartedAt\": 1700000000.25, \"pullStoppedAt\": 1700000001}");
	expect_err(&model_ecs, "SubmitTaskStateChange",
		   "{\"pullStartedAt\": \"2023-11-14T22:13:20Z\"}", E_SERIALIZATION,
		   "STRING_VALUE can not be converted to a Timestamp at 'pullStartedAt'");
	expect_err(&model_ecs, "SubmitTaskStateChange", "{\"pullStartedAt\": 1e999}",
		   E_SERIALIZATION,
		   "NUMBER_VALUE inf can not be converted to a Timestamp at 'pullStartedAt'");
	/* longs are 64-bit: 2^63 is out of range, 2^62 is not */
	expect_ok(&model_ecr, "UploadLayerPart",
		  "{\"repositoryName\": \"web\", \"uploadId\": \"u\", \"partFirstByte\": 0,"
		  " \"partLastByte\": 4611686018427387904, \"layerPartBlob\": \"\"}");
	expect_err(&model_ecr, "UploadLayerPart",
		   "{\"repositoryName\": \"web\", \"uploadId\": \"u\", \"partFirstByte\": 0,"
		   " \"partLastByte\": 9223372036854775808, \"layerPartBlob\": \"\"}",
		   E_SERIALIZATION,
		   "NUMBER_VALUE 9.22337203685478e+18 can not be converted to a Long at"
		   " 'partLastByte'");
	/* blobs are base64 */
	expect_err(&model_ecr, "UploadLayerPart",
		   "{\"repositoryName\": \"web\", \"uploadId\": \"u\", \"partFirstByte\": 0,"
		   " \"partLastByte\": 4, \"layerPartBlob\": \"not base64!\"}",
		   E_SERIALIZATION, "Invalid base64 in Blob at 'layerPartBlob'");
	/* strings must be UTF-8 */
	expect_err(&model_logs, "CreateLogGroup", "{\"logGroupName\": \"bad\xff\"}",
		   E_SERIALIZATION, "Invalid UTF-8 in string at 'logGroupName'");
	expect_err(&model_logs, "CreateLogGroup", "{\"logGroupName\": \"\xc0\xaf\"}",
		   E_SERIALIZATION, "Invalid UTF-8 in string at 'logGroupName'");
}

static void test_enum(void **state)
{
	(void)state;
	expect_err(
		&model_ecs, "RegisterTaskDefinition",
		"{\"family\": \"web\", \"containerDefinitions\": [], \"networkMode\": \"bogus\"}",
		E_INVALID_PARAMETER,
		"Invalid value 'bogus' for 'networkMode': must be one of: bridge, host, awsvpc,"
		" none");
	/* enum values are case-sensitive */
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [{\"portMappings\":"
		   " [{\"protocol\": \"TCP\"}]}]}",
		   E_INVALID_PARAMETER,
		   "Invalid value 'TCP' for 'containerDefinitions[0].portMappings[0].protocol':"
		   " must be one of: tcp, udp");
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [],"
		   " \"requiresCompatibilities\": [\"FARGATE\", \"LAMBDA\"]}",
		   E_INVALID_PARAMETER,
		   "Invalid value 'LAMBDA' for 'requiresCompatibilities[1]': must be one of: EC2,"
		   " FARGATE, EXTERNAL, MANAGED_INSTANCES");
	expect_ok(&model_logs, "CreateLogGroup",
		  "{\"logGroupName\": \"g\", \"logGroupClass\": \"INFREQUENT_ACCESS\"}");
}

static void test_null_is_absent(void **state)
{
	(void)state;
	expect_ok(&model_ecs, "RegisterTaskDefinition",
		  "{\"family\": \"web\", \"containerDefinitions\": [{\"memory\": null,"
		  " \"portMappings\": null}], \"networkMode\": null, \"tags\": null}");
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": null, \"containerDefinitions\": []}", E_INVALID_PARAMETER,
		   "Required parameter 'family' is missing");
	/* a null list item is not an absent member: handlers may trust items */
	expect_err(&model_ecs, "RegisterTaskDefinition",
		   "{\"family\": \"web\", \"containerDefinitions\": [{}, null]}", E_SERIALIZATION,
		   "null can not be converted to a Structure at 'containerDefinitions[1]'");
}

static void test_limits(void **state)
{
	struct buf b = BUF_INIT;
	int i;

	(void)state;
	expect_err(&model_logs, "DescribeLogGroups", "{\"limit\": 51}", E_INVALID_PARAMETER,
		   "Invalid value 51 for 'limit': must be at most 50");
	expect_err(&model_logs, "DescribeLogGroups", "{\"limit\": 0}", E_INVALID_PARAMETER,
		   "Invalid value 0 for 'limit': must be at least 1");
	expect_ok(&model_logs, "DescribeLogGroups", "{\"limit\": 50}");
	expect_err(&model_logs, "CreateLogGroup", "{\"logGroupName\": \"\"}", E_INVALID_PARAMETER,
		   "Invalid length 0 for 'logGroupName': must be at least 1 character");
	expect_err(&model_logs, "CreateLogGroup", "{\"logGroupName\": \"g\", \"tags\": {}}",
		   E_INVALID_PARAMETER, "Invalid length 0 for 'tags': must be at least 1 entry");
	expect_err(&model_logs, "CreateLogGroup",
		   "{\"logGroupName\": \"g\", \"tags\": {\"\": \"v\"}}", E_INVALID_PARAMETER,
		   "Invalid length 0 for 'tags[\"\"]': must be at least 1 character");
	expect_err(&model_logs, "CreateLogGroup",
		   "{\"logGroupName\": \"g\", \"tags\": {\"\xff\": \"v\"}}", E_SERIALIZATION,
		   "Invalid UTF-8 in map key at 'tags'");
	expect_err(&model_logs, "PutLogEvents",
		   "{\"logGroupName\": \"g\", \"logStreamName\": \"s\", \"logEvents\": []}",
		   E_INVALID_PARAMETER,
		   "Invalid length 0 for 'logEvents': must be at least 1 item");
	expect_err(&model_logs, "PutLogEvents",
		   "{\"logGroupName\": \"g\", \"logStreamName\": \"s\","
		   " \"logEvents\": [{\"timestamp\": -1, \"message\": \"m\"}]}",
		   E_INVALID_PARAMETER,
		   "Invalid value -1 for 'logEvents[0].timestamp': must be at least 0");
	expect_err(&model_ecr, "CreateRepository", "{\"repositoryName\": \"a\"}",
		   E_INVALID_PARAMETER,
		   "Invalid length 1 for 'repositoryName': must be at least 2 characters");

	/* string lengths count code points: 128 two-byte characters fit TagKey */
	buf_puts(&b, "{\"family\": \"web\", \"containerDefinitions\": [], \"tags\": [{\"key\": \"");
	for (i = 0; i < 128; i++)
		buf_puts(&b, "\xc3\xa9");
	buf_puts(&b, "\"}]}");
	expect_ok(&model_ecs, "RegisterTaskDefinition", buf_str(&b));
	buf_reset(&b);
	buf_puts(&b, "{\"family\": \"web\", \"containerDefinitions\": [], \"tags\": [{\"key\": \"");
	for (i = 0; i < 129; i++)
		buf_puts(&b, "\xc3\xa9");
	buf_puts(&b, "\"}]}");
	expect_err(&model_ecs, "RegisterTaskDefinition", buf_str(&b), E_INVALID_PARAMETER,
		   "Invalid length 129 for 'tags[0].key': must be at most 128 characters");

	/* at most 50 tags */
	buf_reset(&b);
	buf_puts(&b, "{\"family\": \"web\", \"containerDefinitions\": [], \"tags\": [");
	for (i = 0; i < 51; i++)
		buf_printf(&b, "%s{\"key\": \"k%d\"}", i ? "," : "", i);
	buf_puts(&b, "]}");
	expect_err(&model_ecs, "RegisterTaskDefinition", buf_str(&b), E_INVALID_PARAMETER,
		   "Invalid length 51 for 'tags': must be at most 50 items");
	buf_release(&b);
}

static void test_union(void **state)
{
	(void)state;
	expect_ok(&model_logs, "PutIntegration",
		  "{\"integrationName\": \"i\", \"integrationType\": \"OPENSEARCH\","
		  " \"resourceConfig\": {\"openSearchResourceConfig\": {"
		  " \"dataSourceRoleArn\": \"arn:r\", \"dashboardViewerPrincipals\": [\"p\"],"
		  " \"retentionDays\": 7}}}");
	expect_err(&model_logs, "PutIntegration",
		   "{\"integrationName\": \"i\", \"integrationType\": \"OPENSEARCH\","
		   " \"resourceConfig\": {\"unknown\": 1}}",
		   E_INVALID_PARAMETER,
		   "Invalid value for 'resourceConfig': exactly one member must be set, got 0");
}

static void test_not_an_object(void **state)
{
	const struct model_operation *op = model_find_operation(&model_ecs, "ListClusters");
	struct err err = ERR_INIT;
	cJSON *arr = cJSON_CreateArray();

	(void)state;
	assert_int_equal(model_validate(&model_ecs, op, arr, &err), -EINVAL);
	assert_int_equal(err.kind, E_SERIALIZATION);
	assert_string_equal(err.msg, "Request body must be a JSON object");
	cJSON_Delete(arr);
	/* err may be NULL when the caller only wants the verdict */
	arr = cJSON_CreateArray();
	assert_int_equal(model_validate(&model_ecs, op, arr, NULL), -EINVAL);
	cJSON_Delete(arr);
}

/*
 * A model no AWS service has (yet): a recursive structure, for the depth
 * limit, and an enum too long to list in full in a message.
 *   Node { child: Node, items: [Node], kind: Kind, name: String }
 */
enum { NODE, NODE_LIST, KIND, STRING };

static const struct model_shape test_shapes[] = {
	[NODE] = { .type = MODEL_STRUCTURE, .members = { 0, 4 } },
	[NODE_LIST] = { .type = MODEL_LIST, .element = NODE },
	[KIND] = { .type = MODEL_STRING, .enums = { 0, 40 } },
	[STRING] = { .type = MODEL_STRING },
};

static const struct model_member test_members[] = {
	{ "child", NODE, 0 },
	{ "items", NODE_LIST, 0 },
	{ "kind", KIND, 0 },
	{ "name", STRING, 0 },
};

#define KIND_VALUE(n) "a-rather-long-enum-value-number-" #n
static const char *const test_enums[] = {
	KIND_VALUE(0),	KIND_VALUE(1),	KIND_VALUE(2),	KIND_VALUE(3),	KIND_VALUE(4),
	KIND_VALUE(5),	KIND_VALUE(6),	KIND_VALUE(7),	KIND_VALUE(8),	KIND_VALUE(9),
	KIND_VALUE(10), KIND_VALUE(11), KIND_VALUE(12), KIND_VALUE(13), KIND_VALUE(14),
	KIND_VALUE(15), KIND_VALUE(16), KIND_VALUE(17), KIND_VALUE(18), KIND_VALUE(19),
	KIND_VALUE(20), KIND_VALUE(21), KIND_VALUE(22), KIND_VALUE(23), KIND_VALUE(24),
	KIND_VALUE(25), KIND_VALUE(26), KIND_VALUE(27), KIND_VALUE(28), KIND_VALUE(29),
	KIND_VALUE(30), KIND_VALUE(31), KIND_VALUE(32), KIND_VALUE(33), KIND_VALUE(34),
	KIND_VALUE(35), KIND_VALUE(36), KIND_VALUE(37), KIND_VALUE(38), KIND_VALUE(39),
};

static const struct model_operation test_operations[] = {
	{ "Walk", NULL, NODE, 0, 0 },
};

static const struct model_service test_service = {
	.name = "test",
	.api_version = "2000-01-01",
	.target_prefix = "Test",
	.operations = test_operations,
	.noperations = 1,
	.shapes = test_shapes,
	.nshapes = 4,
	.members = test_members,
	.enums = test_enums,
};

/* {"child": {"child": ... {"name": 1} ...}} nested depth levels deep, built
 * without the parser (whose own nesting limit would stop it first) */
static cJSON *deep_request(int depth, const char *link)
{
	cJSON *root = cJSON_CreateObject(), *cur = root;
	int i;

	for (i = 0; i < depth; i++) {
		cJSON *next = cJSON_CreateObject();

		if (strcmp(link, "items") == 0) {
			cJSON *arr = cJSON_CreateArray();

			cJSON_AddItemToArray(arr, next);
			cJSON_AddItemToObject(cur, "items", arr);
		} else {
			cJSON_AddItemToObject(cur, "child", next);
		}
		cur = next;
	}
	cJSON_AddNumberToObject(cur, "name", 1);
	return root;
}

static void test_deep_nesting(void **state)
{
	const struct model_operation *op = model_find_operation(&test_service, "Walk");
	struct err err = ERR_INIT;
	cJSON *req;

	(void)state;
	assert_non_null(op);
	/* within the limit, the wrong type at the bottom is found */
	req = deep_request(MODEL_MAX_DEPTH - 1, "child");
	assert_int_equal(model_validate(&test_service, op, req, &err), -EINVAL);
	assert_int_equal(err.kind, E_SERIALIZATION);
	assert_non_null(strstr(err.msg, "NUMBER_VALUE can not be converted to a String at"
					" 'child.child.child."));
	cJSON_Delete(req);

	/* one level more is refused, with the path cut short */
	err_clear(&err);
	req = deep_request(MODEL_MAX_DEPTH, "child");
	assert_int_equal(model_validate(&test_service, op, req, &err), -E2BIG);
	assert_int_equal(err.kind, E_SERIALIZATION);
	assert_non_null(strstr(err.msg, "Request nests deeper than 64 levels at 'child."));
	assert_non_null(strstr(err.msg, "...'"));
	cJSON_Delete(req);

	/* far deeper: refused without walking (or overflowing the stack) */
	err_clear(&err);
	req = deep_request(10000, "child");
	assert_int_equal(model_validate(&test_service, op, req, &err), -E2BIG);
	cJSON_Delete(req);

	/* lists count as levels too */
	err_clear(&err);
	req = deep_request(100, "items");
	assert_int_equal(model_validate(&test_service, op, req, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "at 'items[0].items[0]."));
	cJSON_Delete(req);
}

static void test_long_enum_message(void **state)
{
	struct err err = ERR_INIT;
	size_t len;

	(void)state;
	assert_int_equal(validate(&test_service, "Walk",
				  "{\"child\": {\"kind\": \"" KIND_VALUE(39) "\"}}", &err),
			 0);
	assert_int_equal(validate(&test_service, "Walk", "{\"child\": {\"kind\": \"nope\"}}", &err),
			 -EINVAL);
	assert_int_equal(err.kind, E_INVALID_PARAMETER);
	assert_non_null(strstr(err.msg,
			       "Invalid value 'nope' for 'child.kind': must be one of: " KIND_VALUE(
				       0) ", " KIND_VALUE(1) ", "));
	len = strlen(err.msg);
	assert_true(len < sizeof(err.msg));
	assert_string_equal(err.msg + len - 3, "...");

	/* a long value is quoted only in part, cut on a character boundary */
	err_clear(&err);
	assert_int_equal(validate(&test_service, "Walk",
				  "{\"kind\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				  "\xc3\xa9\xc3\xa9x\xc3\xa9\"}",
				  &err),
			 -EINVAL);
	/* 32 two-byte characters, then 'x' at byte 64: the cut keeps all 64 */
	assert_non_null(strstr(err.msg, "\xc3\xa9...' for 'kind'"));
	err_clear(&err);
	assert_int_equal(validate(&test_service, "Walk",
				  "{\"kind\": \"x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				  "\xc3\xa9\xc3\xa9\xc3\xa9\"}",
				  &err),
			 -EINVAL);
	/* 'x' then 33 two-byte characters: byte 64 splits the 32nd, which goes */
	assert_non_null(strstr(err.msg, "'x"));
	assert_non_null(strstr(err.msg, "\xc3\xa9...' for 'kind'"));
	assert_null(strstr(err.msg, "\xc3..."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_operation),
		cmocka_unit_test(test_every_operation_findable),
		cmocka_unit_test(test_ecr_and_logs_operations),
		cmocka_unit_test(test_register_task_definition_valid),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_missing_nested_required),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_null_is_absent),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_union),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_long_enum_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
