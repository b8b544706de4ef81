build-dev/src/registry/token.o: src/registry/token.c src/core/base64.h \
 src/core/buf.h src/core/sigv4.h src/core/err.h src/core/util.h \
 src/registry/registry.h src/api/api.h src/core/credentials.h \
 src/core/json.h src/core/jsonw.h src/store/store.h src/api/http.h \
 src/core/banned.h
src/core/base64.h:
src/core/buf.h:
src/core/sigv4.h:
src/core/err.h:
src/core/util.h:
src/registry/registry.h:
src/api/api.h:
src/core/credentials.h:
src/core/json.h:
src/core/jsonw.h:
src/store/store.h:
src/api/http.h:
src/core/banned.h:
