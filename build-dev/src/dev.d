build-dev/src/dev.o: src/dev.c src/agent/agent.h src/core/awsclient.h \
 src/core/buf.h src/core/err.h src/core/httpc.h src/core/sigv4.h \
 src/core/buf.h src/core/log.h src/main.h src/core/banned.h
src/agent/agent.h:
src/core/awsclient.h:
src/core/buf.h:
src/core/err.h:
src/core/httpc.h:
src/core/sigv4.h:
src/core/buf.h:
src/core/log.h:
src/main.h:
src/core/banned.h:
