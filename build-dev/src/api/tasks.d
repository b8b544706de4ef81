build-dev/src/api/tasks.o: src/api/tasks.c src/api/agent_hub.h \
 src/api/api.h src/core/buf.h src/core/credentials.h src/core/err.h \
 src/core/json.h src/core/jsonw.h src/store/store.h src/api/ecs.h \
 src/api/task_state.h src/core/cleanup.h src/core/util.h \
 src/sched/placement.h src/core/banned.h
src/api/agent_hub.h:
src/api/api.h:
src/core/buf.h:
src/core/credentials.h:
src/core/err.h:
src/core/json.h:
src/core/jsonw.h:
src/store/store.h:
src/api/ecs.h:
src/api/task_state.h:
src/core/cleanup.h:
src/core/util.h:
src/sched/placement.h:
src/core/banned.h:
