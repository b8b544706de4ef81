/*
 * err.c: filling and wrapping error objects, and the table that maps each
 * error kind to the `__type` and HTTP status AWS uses for it.
 */
#include "core/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

static const struct {
	const char *type;
	int status;
} kinds[E__MAX] = {
	[E_NONE] = { "ServerException", 500 },
	[E_SERVER] = { "ServerException", 500 },
	[E_CLIENT] = { "ClientException", 400 },
	[E_INVALID_PARAMETER] = { "InvalidParameterException", 400 },
	[E_SERIALIZATION] = { "SerializationException", 400 },
	[E_UNKNOWN_OPERATION] = { "UnknownOperationException", 400 },
	[E_REQUEST_TOO_LARGE] = { "RequestEntityTooLargeException", 413 },
	[E_THROTTLING] = { "ThrottlingException", 400 },
	[E_LIMIT_EXCEEDED] = { "LimitExceededException", 400 },
	[E_ACCESS_DENIED] = { "AccessDeniedException", 400 },
	[E_MISSING_AUTH_TOKEN] = { "MissingAuthenticationTokenException", 403 },
	[E_INCOMPLETE_SIGNATURE] = { "IncompleteSignatureException", 403 },
	[E_INVALID_SIGNATURE] = { "InvalidSignatureException", 403 },
	[E_UNRECOGNIZED_CLIENT] = { "UnrecognizedClientException", 403 },
	[E_CLUSTER_NOT_FOUND] = { "ClusterNotFoundException", 400 },
	[E_CLUSTER_CONTAINS_INSTANCES] = { "ClusterContainsContainerInstancesException", 400 },
	[E_CLUSTER_CONTAINS_SERVICES] = { "ClusterContainsServicesException", 400 },
	[E_CLUSTER_CONTAINS_TASKS] = { "ClusterContainsTasksException", 400 },
	[E_CLUSTER_CONTAINS_CAPACITY_PROVIDER] = { "ClusterContainsCapacityProviderException",
						   400 },
	[E_RESOURCE_NOT_FOUND] = { "ResourceNotFoundException", 400 },
	[E_RESOURCE_IN_USE] = { "ResourceInUseException", 400 },
	[E_SERVICE_NOT_FOUND] = { "ServiceNotFoundException", 400 },
	[E_SERVICE_NOT_ACTIVE] = { "ServiceNotActiveException", 400 },
	[E_TARGET_NOT_FOUND] = { "TargetNotFoundException", 400 },
	[E_ATTRIBUTE_LIMIT_EXCEEDED] = { "AttributeLimitExceededException", 400 },
	[E_UPDATE_IN_PROGRESS] = { "UpdateInProgressException", 400 },
	[E_PLATFORM_UNKNOWN] = { "PlatformUnknownException", 400 },
	[E_PLATFORM_TASK_DEFINITION_INCOMPATIBILITY] = { "PlatformTaskDefinitionIncompatibilityExce"
							 "ption",
							 400 },
	[E_NAMESPACE_NOT_FOUND] = { "NamespaceNotFoundException", 400 },
	[E_CONFLICT] = { "ConflictException", 400 },
	[E_RESOURCE_ALREADY_EXISTS] = { "ResourceAlreadyExistsException", 400 },
	[E_DATA_ALREADY_ACCEPTED] = { "DataAlreadyAcceptedException", 400 },
	[E_INVALID_SEQUENCE_TOKEN] = { "InvalidSequenceTokenException", 400 },
	[E_REPOSITORY_NOT_FOUND] = { "RepositoryNotFoundException", 400 },
	[E_REPOSITORY_ALREADY_EXISTS] = { "RepositoryAlreadyExistsException", 400 },
	[E_REPOSITORY_NOT_EMPTY] = { "RepositoryNotEmptyException", 400 },
	[E_IMAGE_NOT_FOUND] = { "ImageNotFoundException", 400 },
	[E_IMAGE_ALREADY_EXISTS] = { "ImageAlreadyExistsException", 400 },
	[E_IMAGE_TAG_ALREADY_EXISTS] = { "ImageTagAlreadyExistsException", 400 },
	[E_IMAGE_DIGEST_MISMATCH] = { "ImageDigestDoesNotMatchException", 400 },
	[E_LAYERS_NOT_FOUND] = { "LayersNotFoundException", 400 },
	[E_LAYER_INACCESSIBLE] = { "LayerInaccessibleException", 400 },
	[E_UPLOAD_NOT_FOUND] = { "UploadNotFoundException", 400 },
	[E_INVALID_LAYER] = { "InvalidLayerException", 400 },
	[E_INVALID_TAG_PARAMETER] = { "InvalidTagParameterException", 400 },
	[E_TOO_MANY_TAGS] = { "TooManyTagsException", 400 },
	[E_ECR_SERVER] = { "ServerException", 500 },
	[E_ECR_VALIDATION] = { "ValidationException", 400 },
	[E_OCI_BLOB_UNKNOWN] = { "BLOB_UNKNOWN", 404 },
	[E_OCI_BLOB_UPLOAD_INVALID] = { "BLOB_UPLOAD_INVALID", 400 },
	[E_OCI_BLOB_UPLOAD_UNKNOWN] = { "BLOB_UPLOAD_UNKNOWN", 404 },
	[E_OCI_DIGEST_INVALID] = { "DIGEST_INVALID", 400 },
	[E_OCI_MANIFEST_BLOB_UNKNOWN] = { "MANIFEST_BLOB_UNKNOWN", 400 },
	[E_OCI_MANIFEST_INVALID] = { "MANIFEST_INVALID", 400 },
	[E_OCI_MANIFEST_UNKNOWN] = { "MANIFEST_UNKNOWN", 404 },
	[E_OCI_NAME_INVALID] = { "NAME_INVALID", 400 },
	[E_OCI_NAME_UNKNOWN] = { "NAME_UNKNOWN", 404 },
	[E_OCI_SIZE_INVALID] = { "SIZE_INVALID", 400 },
	[E_OCI_TAG_INVALID] = { "TAG_INVALID", 400 },
	[E_OCI_UNAUTHORIZED] = { "UNAUTHORIZED", 401 },
	[E_OCI_DENIED] = { "DENIED", 403 },
	[E_OCI_UNSUPPORTED] = { "UNSUPPORTED", 405 },
	[E_OCI_RANGE_INVALID] = { "RANGE_INVALID", 416 },
	[E_OCI_TOO_LARGE] = { "SIZE_INVALID", 413 },
	[E_OCI_PAGINATION_NUMBER_INVALID] = { "PAGINATION_NUMBER_INVALID", 400 },
};

int err_set(struct err *err, int code, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->kind = kind;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int err_wrap(struct err *err, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	size_t n;
	va_list ap;
	int r;

	if (!err)
		return -EIO;
	va_start(ap, fmt);
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = r < 0 ? 0 : (size_t)r;
	if (n > sizeof(msg) - 3)
		n = sizeof(msg) - 3;
	msg[n++] = ':';
	msg[n++] = ' ';
	/* the old message follows the context, cut where the buffer ends */
	memcpy(msg + n, err->msg, sizeof(msg) - n - 1);
	msg[sizeof(msg) - 1] = '\0';
	memcpy(err->msg, msg, sizeof(msg));
	return err->code;
}

void err_clear(struct err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->kind = E_NONE;
	err->msg[0] = '\0';
}

const char *err_kind_type(enum err_kind kind)
{
	if (kind < 0 || kind >= E__MAX || !kinds[kind].type)
		return "ServerException";
	return kinds[kind].type;
}

int err_kind_status(enum err_kind kind)
{
	if (kind < 0 || kind >= E__MAX || !kinds[kind].type)
		return 500;
	return kinds[kind].status;
}

enum err_kind err_kind_from_type(const char *type)
{
	const char *hash = type ? strrchr(type, '#') : NULL;

	if (!type)
		return E_CLIENT;
	if (hash)
		type = hash + 1;
	for (int k = E_NONE + 1; k < E__MAX; k++)
		if (kinds[k].type && strcmp(kinds[k].type, type) == 0)
			return (enum err_kind)k;
	return E_CLIENT;
}
