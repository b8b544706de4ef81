build-dev/src/agent/reference.o: src/agent/reference.c src/agent/images.h \
 src/agent/layers.h src/core/buf.h src/core/err.h src/core/banned.h
src/agent/images.h:
src/agent/layers.h:
src/core/buf.h:
src/core/err.h:
src/core/banned.h:
