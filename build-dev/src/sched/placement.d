build-dev/src/sched/placement.o: src/sched/placement.c src/core/json.h \
 src/core/buf.h src/core/jsonw.h src/core/util.h src/sched/placement.h \
 src/core/err.h src/core/banned.h
src/core/json.h:
src/core/buf.h:
src/core/jsonw.h:
src/core/util.h:
src/sched/placement.h:
src/core/err.h:
src/core/banned.h:
