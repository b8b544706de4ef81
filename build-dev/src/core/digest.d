build-dev/src/core/digest.o: src/core/digest.c src/core/digest.h \
 src/core/banned.h
src/core/digest.h:
src/core/banned.h:
