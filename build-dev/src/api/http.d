build-dev/src/api/http.o: src/api/http.c src/api/http.h src/core/buf.h \
 src/core/err.h src/core/cleanup.h src/core/util.h src/core/banned.h
src/api/http.h:
src/core/buf.h:
src/core/err.h:
src/core/cleanup.h:
src/core/util.h:
src/core/banned.h:
