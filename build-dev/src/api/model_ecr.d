build-dev/src/api/model_ecr.o: src/api/model_ecr.c src/api/model.h \
 src/core/banned.h
src/api/model.h:
src/core/banned.h:
