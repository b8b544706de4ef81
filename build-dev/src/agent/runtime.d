build-dev/src/agent/runtime.o: src/agent/runtime.c src/agent/layers.h \
 src/core/buf.h src/core/err.h src/agent/runtime.h src/core/cleanup.h \
 src/core/fs.h src/core/json.h src/core/jsonw.h src/core/log.h \
 src/core/util.h src/core/banned.h
src/agent/layers.h:
src/core/buf.h:
src/core/err.h:
src/agent/runtime.h:
src/core/cleanup.h:
src/core/fs.h:
src/core/json.h:
src/core/jsonw.h:
src/core/log.h:
src/core/util.h:
src/core/banned.h:
