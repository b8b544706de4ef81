build-dev/src/api/agent_hub.o: src/api/agent_hub.c src/api/agent_hub.h \
 src/api/api.h src/core/buf.h src/core/credentials.h src/core/err.h \
 src/core/json.h src/core/jsonw.h src/store/store.h src/api/ecs.h \
 src/api/http.h src/api/task_state.h src/api/model.h src/core/cleanup.h \
 src/core/log.h src/core/util.h src/core/banned.h
src/api/agent_hub.h:
src/api/api.h:
src/core/buf.h:
src/core/credentials.h:
src/core/err.h:
src/core/json.h:
src/core/jsonw.h:
src/store/store.h:
src/api/ecs.h:
src/api/http.h:
src/api/task_state.h:
src/api/model.h:
src/core/cleanup.h:
src/core/log.h:
src/core/util.h:
src/core/banned.h:
