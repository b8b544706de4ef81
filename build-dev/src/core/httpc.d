build-dev/src/core/httpc.o: src/core/httpc.c src/core/httpc.h \
 src/core/buf.h src/core/err.h src/core/banned.h
src/core/httpc.h:
src/core/buf.h:
src/core/err.h:
src/core/banned.h:
