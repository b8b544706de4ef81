build-dev/src/core/awsclient.o: src/core/awsclient.c src/core/awsclient.h \
 src/core/buf.h src/core/err.h src/core/httpc.h src/core/sigv4.h \
 src/core/cleanup.h src/core/json.h src/core/jsonw.h src/core/banned.h
src/core/awsclient.h:
src/core/buf.h:
src/core/err.h:
src/core/httpc.h:
src/core/sigv4.h:
src/core/cleanup.h:
src/core/json.h:
src/core/jsonw.h:
src/core/banned.h:
