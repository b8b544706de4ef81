build-dev/src/agent/bundle.o: src/agent/bundle.c src/agent/runtime.h \
 src/core/buf.h src/core/err.h src/core/cleanup.h src/core/fs.h \
 src/core/json.h src/core/jsonw.h src/core/banned.h
src/agent/runtime.h:
src/core/buf.h:
src/core/err.h:
src/core/cleanup.h:
src/core/fs.h:
src/core/json.h:
src/core/jsonw.h:
src/core/banned.h:
