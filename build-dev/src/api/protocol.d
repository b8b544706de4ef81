build-dev/src/api/protocol.o: src/api/protocol.c src/api/api.h \
 src/core/buf.h src/core/credentials.h src/core/err.h src/core/json.h \
 src/core/jsonw.h src/store/store.h src/api/http.h src/api/validate.h \
 src/api/model.h src/core/base64.h src/core/cleanup.h src/core/log.h \
 src/core/sigv4.h src/core/util.h src/core/banned.h
src/api/api.h:
src/core/buf.h:
src/core/credentials.h:
src/core/err.h:
src/core/json.h:
src/core/jsonw.h:
src/store/store.h:
src/api/http.h:
src/api/validate.h:
src/api/model.h:
src/core/base64.h:
src/core/cleanup.h:
src/core/log.h:
src/core/sigv4.h:
src/core/util.h:
src/core/banned.h:
