build-dev/src/api/tags.o: src/api/tags.c src/api/ecs.h src/api/api.h \
 src/core/buf.h src/core/credentials.h src/core/err.h src/core/json.h \
 src/core/jsonw.h src/store/store.h src/api/resource_tags.h \
 src/core/cleanup.h src/core/util.h src/core/banned.h
src/api/ecs.h:
src/api/api.h:
src/core/buf.h:
src/core/credentials.h:
src/core/err.h:
src/core/json.h:
src/core/jsonw.h:
src/store/store.h:
src/api/resource_tags.h:
src/core/cleanup.h:
src/core/util.h:
src/core/banned.h:
