build-dev/src/registry/ecr_images.o: src/registry/ecr_images.c \
 src/core/cleanup.h src/core/json.h src/core/buf.h src/core/jsonw.h \
 src/core/util.h src/registry/blobs.h src/registry/registry.h \
 src/api/api.h src/core/credentials.h src/core/err.h src/store/store.h \
 src/api/http.h src/registry/ecr.h src/registry/images.h \
 src/core/banned.h
src/core/cleanup.h:
src/core/json.h:
src/core/buf.h:
src/core/jsonw.h:
src/core/util.h:
src/registry/blobs.h:
src/registry/registry.h:
src/api/api.h:
src/core/credentials.h:
src/core/err.h:
src/store/store.h:
src/api/http.h:
src/registry/ecr.h:
src/registry/images.h:
src/core/banned.h:
