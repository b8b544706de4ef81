build-dev/src/core/log.o: src/core/log.c src/core/log.h src/core/banned.h
src/core/log.h:
src/core/banned.h:
