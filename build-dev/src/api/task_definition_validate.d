build-dev/src/api/task_definition_validate.o: \
 src/api/task_definition_validate.c src/api/ecs.h src/api/api.h \
 src/core/buf.h src/core/credentials.h src/core/err.h src/core/json.h \
 src/core/jsonw.h src/store/store.h src/api/task_definition.h \
 src/core/cleanup.h src/core/util.h src/core/banned.h
src/api/ecs.h:
src/api/api.h:
src/core/buf.h:
src/core/credentials.h:
src/core/err.h:
src/core/json.h:
src/core/jsonw.h:
src/store/store.h:
src/api/task_definition.h:
src/core/cleanup.h:
src/core/util.h:
src/core/banned.h:
