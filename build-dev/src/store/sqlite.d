build-dev/src/store/sqlite.o: src/store/sqlite.c src/core/cleanup.h \
 src/store/memindex.h src/core/buf.h src/store/store.h src/core/err.h \
 src/core/banned.h
src/core/cleanup.h:
src/store/memindex.h:
src/core/buf.h:
src/store/store.h:
src/core/err.h:
src/core/banned.h:
