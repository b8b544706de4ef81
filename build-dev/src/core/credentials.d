build-dev/src/core/credentials.o: src/core/credentials.c \
 src/core/credentials.h src/core/err.h src/core/cleanup.h \
 src/core/banned.h
src/core/credentials.h:
src/core/err.h:
src/core/cleanup.h:
src/core/banned.h:
