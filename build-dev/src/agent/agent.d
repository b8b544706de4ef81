build-dev/src/agent/agent.o: src/agent/agent.c src/agent/agent.h \
 src/core/awsclient.h src/core/buf.h src/core/err.h src/core/httpc.h \
 src/core/sigv4.h src/agent/images.h src/agent/layers.h \
 src/core/cleanup.h src/core/credentials.h src/core/fs.h src/core/json.h \
 src/core/jsonw.h src/core/log.h src/core/util.h src/main.h \
 src/core/banned.h
src/agent/agent.h:
src/core/awsclient.h:
src/core/buf.h:
src/core/err.h:
src/core/httpc.h:
src/core/sigv4.h:
src/agent/images.h:
src/agent/layers.h:
src/core/cleanup.h:
src/core/credentials.h:
src/core/fs.h:
src/core/json.h:
src/core/jsonw.h:
src/core/log.h:
src/core/util.h:
src/main.h:
src/core/banned.h:
