build-dev/src/agent/task.o: src/agent/task.c src/agent/agent.h \
 src/core/awsclient.h src/core/buf.h src/core/err.h src/core/httpc.h \
 src/core/sigv4.h src/agent/images.h src/agent/layers.h \
 src/agent/runtime.h src/core/base64.h src/core/cleanup.h src/core/fs.h \
 src/core/json.h src/core/jsonw.h src/core/log.h src/core/util.h \
 src/core/banned.h
src/agent/agent.h:
src/core/awsclient.h:
src/core/buf.h:
src/core/err.h:
src/core/httpc.h:
src/core/sigv4.h:
src/agent/images.h:
src/agent/layers.h:
src/agent/runtime.h:
src/core/base64.h:
src/core/cleanup.h:
src/core/fs.h:
src/core/json.h:
src/core/jsonw.h:
src/core/log.h:
src/core/util.h:
src/core/banned.h:
