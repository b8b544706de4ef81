build-dev/src/api/model_ecs.o: src/api/model_ecs.c src/api/model.h \
 src/core/banned.h
src/api/model.h:
src/core/banned.h:
