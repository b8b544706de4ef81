build-dev/src/api/server.o: src/api/server.c src/api/agent_hub.h \
 src/api/api.h src/core/buf.h src/core/credentials.h src/core/err.h \
 src/core/json.h src/core/jsonw.h src/store/store.h src/api/http.h \
 src/core/log.h src/core/util.h src/main.h src/registry/blobs.h \
 src/registry/registry.h src/registry/distribution.h src/core/banned.h
src/api/agent_hub.h:
src/api/api.h:
src/core/buf.h:
src/core/credentials.h:
src/core/err.h:
src/core/json.h:
src/core/jsonw.h:
src/store/store.h:
src/api/http.h:
src/core/log.h:
src/core/util.h:
src/main.h:
src/registry/blobs.h:
src/registry/registry.h:
src/registry/distribution.h:
src/core/banned.h:
