build-dev/src/api/model_logs.o: src/api/model_logs.c src/api/model.h \
 src/core/banned.h
src/api/model.h:
src/core/banned.h:
