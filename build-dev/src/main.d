build-dev/src/main.o: src/main.c src/agent/runtime.h src/core/buf.h \
 src/core/err.h src/main.h src/core/banned.h
src/agent/runtime.h:
src/core/buf.h:
src/core/err.h:
src/main.h:
src/core/banned.h:
