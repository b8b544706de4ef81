build-dev/src/store/store.o: src/store/store.c src/store/store.h \
 src/core/buf.h src/core/err.h src/core/banned.h
src/store/store.h:
src/core/buf.h:
src/core/err.h:
src/core/banned.h:
