build-dev/src/sched/query.o: src/sched/query.c src/core/json.h \
 src/core/buf.h src/core/jsonw.h src/sched/placement.h src/core/err.h \
 src/core/banned.h
src/core/json.h:
src/core/buf.h:
src/core/jsonw.h:
src/sched/placement.h:
src/core/err.h:
src/core/banned.h:
