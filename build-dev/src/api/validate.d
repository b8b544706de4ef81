build-dev/src/api/validate.o: src/api/validate.c src/api/validate.h \
 src/api/model.h src/core/err.h src/core/banned.h
src/api/validate.h:
src/api/model.h:
src/core/err.h:
src/core/banned.h:
