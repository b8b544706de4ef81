build-dev/src/agent/shim.o: src/agent/shim.c src/agent/runtime.h \
 src/core/buf.h src/core/err.h src/core/cleanup.h src/core/fs.h \
 src/core/jsonw.h src/core/util.h src/core/banned.h
src/agent/runtime.h:
src/core/buf.h:
src/core/err.h:
src/core/cleanup.h:
src/core/fs.h:
src/core/jsonw.h:
src/core/util.h:
src/core/banned.h:
