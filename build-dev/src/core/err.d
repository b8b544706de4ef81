build-dev/src/core/err.o: src/core/err.c src/core/err.h src/core/banned.h
src/core/err.h:
src/core/banned.h:
