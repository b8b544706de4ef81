build-dev/src/core/jsonw.o: src/core/jsonw.c src/core/jsonw.h \
 src/core/buf.h src/core/banned.h
src/core/jsonw.h:
src/core/buf.h:
src/core/banned.h:
