build-dev/src/agent/layers.o: src/agent/layers.c src/agent/layers.h \
 src/core/buf.h src/core/err.h src/core/cleanup.h src/core/util.h \
 src/core/digest.h src/core/banned.h
src/agent/layers.h:
src/core/buf.h:
src/core/err.h:
src/core/cleanup.h:
src/core/util.h:
src/core/digest.h:
src/core/banned.h:
