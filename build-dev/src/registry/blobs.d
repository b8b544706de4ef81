build-dev/src/registry/blobs.o: src/registry/blobs.c src/core/cleanup.h \
 src/core/util.h src/registry/blobs.h src/registry/registry.h \
 src/api/api.h src/core/buf.h src/core/credentials.h src/core/err.h \
 src/core/json.h src/core/jsonw.h src/store/store.h src/api/http.h \
 src/core/digest.h src/core/banned.h
src/core/cleanup.h:
src/core/util.h:
src/registry/blobs.h:
src/registry/registry.h:
src/api/api.h:
src/core/buf.h:
src/core/credentials.h:
src/core/err.h:
src/core/json.h:
src/core/jsonw.h:
src/store/store.h:
src/api/http.h:
src/core/digest.h:
src/core/banned.h:
