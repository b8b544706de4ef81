build-dev/src/core/json.o: src/core/json.c src/core/json.h src/core/buf.h \
 src/core/jsonw.h src/core/banned.h
src/core/json.h:
src/core/buf.h:
src/core/jsonw.h:
src/core/banned.h:
