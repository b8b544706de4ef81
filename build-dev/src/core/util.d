build-dev/src/core/util.o: src/core/util.c src/core/util.h \
 src/core/banned.h
src/core/util.h:
src/core/banned.h:
