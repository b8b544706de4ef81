build-dev/src/core/base64.o: src/core/base64.c src/core/base64.h \
 src/core/buf.h src/core/banned.h
src/core/base64.h:
src/core/buf.h:
src/core/banned.h:
