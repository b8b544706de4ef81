/*
 * err.h: the error object that travels up from where a failure happens to
 * the layer that reports it. A failing function returns a negative errno and
 * fills the caller's `struct err` with that errno, the AWS error kind the API
 * layer answers with, and a message. Reporting an error allocates nothing:
 * the message lives inline. On success the object is left untouched.
 */
#ifndef BERTH_ERR_H
#define BERTH_ERR_H

#include <stdarg.h>

/*
 * The error kinds berth answers with. Each names the `__type` the AWS
 * clients know and the HTTP status AWS sends with it (err.c holds the table).
 */
enum err_kind {
	E_NONE = 0,
	/* generic */
	E_SERVER,	     /* ServerException, 500 */
	E_CLIENT,	     /* ClientException, 400 */
	E_INVALID_PARAMETER, /* InvalidParameterException, 400 */
	E_SERIALIZATION,     /* SerializationException, 400 */
	E_UNKNOWN_OPERATION, /* UnknownOperationException, 400 */
	E_REQUEST_TOO_LARGE, /* RequestEntityTooLargeException, 413 */
	E_THROTTLING,	     /* ThrottlingException, 400 */
	E_LIMIT_EXCEEDED,    /* LimitExceededException, 400 */
	E_ACCESS_DENIED,     /* AccessDeniedException, 400 */
	/* SigV4 */
	E_MISSING_AUTH_TOKEN,	/* MissingAuthenticationTokenException, 403 */
	E_INCOMPLETE_SIGNATURE, /* IncompleteSignatureException, 403 */
	E_INVALID_SIGNATURE,	/* InvalidSignatureException, 403 */
	E_UNRECOGNIZED_CLIENT,	/* UnrecognizedClientException, 403 */
	/* ECS */
	E_CLUSTER_NOT_FOUND,			    /* ClusterNotFoundException */
	E_CLUSTER_CONTAINS_INSTANCES,		    /* ClusterContainsContainerInstancesException */
	E_CLUSTER_CONTAINS_SERVICES,		    /* ClusterContainsServicesException */
	E_CLUSTER_CONTAINS_TASKS,		    /* ClusterContainsTasksException */
	E_CLUSTER_CONTAINS_CAPACITY_PROVIDER,	    /* ClusterContainsCapacityProviderException */
	E_RESOURCE_NOT_FOUND,			    /* ResourceNotFoundException */
	E_RESOURCE_IN_USE,			    /* ResourceInUseException */
	E_SERVICE_NOT_FOUND,			    /* ServiceNotFoundException */
	E_SERVICE_NOT_ACTIVE,			    /* ServiceNotActiveException */
	E_TARGET_NOT_FOUND,			    /* TargetNotFoundException */
	E_ATTRIBUTE_LIMIT_EXCEEDED,		    /* AttributeLimitExceededException */
	E_UPDATE_IN_PROGRESS,			    /* UpdateInProgressException */
	E_PLATFORM_UNKNOWN,			    /* PlatformUnknownException */
	E_PLATFORM_TASK_DEFINITION_INCOMPATIBILITY, /* PlatformTaskDefinitionIncompatibilityException */
	E_NAMESPACE_NOT_FOUND,			    /* NamespaceNotFoundException */
	E_CONFLICT,				    /* ConflictException */
	/* CloudWatch Logs */
	E_RESOURCE_ALREADY_EXISTS, /* ResourceAlreadyExistsException */
	E_DATA_ALREADY_ACCEPTED,   /* DataAlreadyAcceptedException */
	E_INVALID_SEQUENCE_TOKEN,  /* InvalidSequenceTokenException */
	/* ECR */
	E_REPOSITORY_NOT_FOUND,	     /* RepositoryNotFoundException */
	E_REPOSITORY_ALREADY_EXISTS, /* RepositoryAlreadyExistsException */
	E_REPOSITORY_NOT_EMPTY,	     /* RepositoryNotEmptyException */
	E_IMAGE_NOT_FOUND,	     /* ImageNotFoundException */
	E_IMAGE_ALREADY_EXISTS,	     /* ImageAlreadyExistsException */
	E_IMAGE_TAG_ALREADY_EXISTS,  /* ImageTagAlreadyExistsException */
	E_IMAGE_DIGEST_MISMATCH,     /* ImageDigestDoesNotMatchException */
	E_LAYERS_NOT_FOUND,	     /* LayersNotFoundException */
	E_LAYER_INACCESSIBLE,	     /* LayerInaccessibleException */
	E_UPLOAD_NOT_FOUND,	     /* UploadNotFoundException */
	E_INVALID_LAYER,	     /* InvalidLayerException */
	E_INVALID_TAG_PARAMETER,     /* InvalidTagParameterException */
	E_TOO_MANY_TAGS,	     /* TooManyTagsException */
	E_ECR_SERVER,		     /* ServerException (ECR's, same name) */
	E_ECR_VALIDATION,	     /* ValidationException */
	/* OCI distribution: the __type is the spec's error code */
	E_OCI_BLOB_UNKNOWN,
	E_OCI_BLOB_UPLOAD_INVALID,
	E_OCI_BLOB_UPLOAD_UNKNOWN,
	E_OCI_DIGEST_INVALID,
	E_OCI_MANIFEST_BLOB_UNKNOWN,
	E_OCI_MANIFEST_INVALID,
	E_OCI_MANIFEST_UNKNOWN,
	E_OCI_NAME_INVALID,
	E_OCI_NAME_UNKNOWN,
	E_OCI_SIZE_INVALID,
	E_OCI_TAG_INVALID,
	E_OCI_UNAUTHORIZED,
	E_OCI_DENIED,
	E_OCI_UNSUPPORTED,
	E_OCI_RANGE_INVALID,
	E_OCI_TOO_LARGE,
	E_OCI_PAGINATION_NUMBER_INVALID,
	E__MAX
};

#define ERR_MSG_MAX 512

struct err {
	int code; /* negative errno */
	enum err_kind kind;
	char msg[ERR_MSG_MAX];
};

#define ERR_INIT           \
	{                  \
		0, E_NONE, \
		{          \
			0  \
		}          \
	}

/*
 * Fill err and return code (a negative errno), so that a failing function
 * can end with `return err_set(err, -EINVAL, E_INVALID_PARAMETER, "...")`.
 * err may be NULL when the caller does not want the details.
 */
int err_set(struct err *err, int code, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefix context ("opening store: ") to the message; returns err->code. */
int err_wrap(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset err to no error. */
void err_clear(struct err *err);

/* The `__type` string of a kind ("ClusterNotFoundException"). */
const char *err_kind_type(enum err_kind kind);

/*
 * The kind whose `__type` is type, a "namespace#" prefix ignored (what a
 * client makes of an error answer); E_CLIENT when no kind has it.
 */
enum err_kind err_kind_from_type(const char *type);

/* The HTTP status AWS answers with for a kind. */
int err_kind_status(enum err_kind kind);

#endif
