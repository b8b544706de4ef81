build-dev/src/registry/distribution.o: src/registry/distribution.c \
 src/core/cleanup.h src/core/json.h src/core/buf.h src/core/jsonw.h \
 src/core/log.h src/core/util.h src/registry/blobs.h \
 src/registry/registry.h src/api/api.h src/core/credentials.h \
 src/core/err.h src/store/store.h src/api/http.h \
 src/registry/distribution.h src/registry/images.h src/core/banned.h
src/core/cleanup.h:
src/core/json.h:
src/core/buf.h:
src/core/jsonw.h:
src/core/log.h:
src/core/util.h:
src/registry/blobs.h:
src/registry/registry.h:
src/api/api.h:
src/core/credentials.h:
src/core/err.h:
src/store/store.h:
src/api/http.h:
src/registry/distribution.h:
src/registry/images.h:
src/core/banned.h:
