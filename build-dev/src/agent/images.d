build-dev/src/agent/images.o: src/agent/images.c src/agent/images.h \
 src/agent/layers.h src/core/buf.h src/core/err.h src/agent/pull.h \
 src/core/httpc.h src/core/cleanup.h src/core/digest.h src/core/fs.h \
 src/core/json.h src/core/jsonw.h src/core/log.h src/core/util.h \
 src/core/banned.h
src/agent/images.h:
src/agent/layers.h:
src/core/buf.h:
src/core/err.h:
src/agent/pull.h:
src/core/httpc.h:
src/core/cleanup.h:
src/core/digest.h:
src/core/fs.h:
src/core/json.h:
src/core/jsonw.h:
src/core/log.h:
src/core/util.h:
src/core/banned.h:
