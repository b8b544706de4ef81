build-dev/src/api/locks.o: src/api/locks.c src/api/api.h src/core/buf.h \
 src/core/credentials.h src/core/err.h src/core/json.h src/core/jsonw.h \
 src/store/store.h src/core/banned.h
src/api/api.h:
src/core/buf.h:
src/core/credentials.h:
src/core/err.h:
src/core/json.h:
src/core/jsonw.h:
src/store/store.h:
src/core/banned.h:
