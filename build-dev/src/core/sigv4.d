build-dev/src/core/sigv4.o: src/core/sigv4.c src/core/sigv4.h \
 src/core/buf.h src/core/err.h src/core/cleanup.h src/core/banned.h
src/core/sigv4.h:
src/core/buf.h:
src/core/err.h:
src/core/cleanup.h:
src/core/banned.h:
