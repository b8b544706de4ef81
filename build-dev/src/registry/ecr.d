build-dev/src/registry/ecr.o: src/registry/ecr.c src/core/cleanup.h \
 src/core/json.h src/core/buf.h src/core/jsonw.h src/core/util.h \
 src/registry/ecr.h src/registry/registry.h src/api/api.h \
 src/core/credentials.h src/core/err.h src/store/store.h src/api/http.h \
 src/registry/blobs.h src/registry/images.h src/api/model.h \
 src/api/resource_tags.h src/core/banned.h
src/core/cleanup.h:
src/core/json.h:
src/core/buf.h:
src/core/jsonw.h:
src/core/util.h:
src/registry/ecr.h:
src/registry/registry.h:
src/api/api.h:
src/core/credentials.h:
src/core/err.h:
src/store/store.h:
src/api/http.h:
src/registry/blobs.h:
src/registry/images.h:
src/api/model.h:
src/api/resource_tags.h:
src/core/banned.h:
