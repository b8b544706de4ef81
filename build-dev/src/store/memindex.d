build-dev/src/store/memindex.o: src/store/memindex.c src/store/memindex.h \
 src/core/buf.h src/store/store.h src/core/err.h src/core/banned.h
src/store/memindex.h:
src/core/buf.h:
src/store/store.h:
src/core/err.h:
src/core/banned.h:
