# berth: one binary, a library of its modules for the tests, and the tests.
#   make             build ./berth (and ./berth-shim, ./berth-init beside it)
#   make test        unit tests, then integration tests
#   make test-unit   C unit tests (cmocka)
#   make test-asan   the whole suite built with clang ASan+UBSan
#   make fuzz        build the libFuzzer targets and run each for FUZZ_SECONDS
#   make bench       benchmarks under bench/
#   make format-check  clang-format --dry-run --Werror over the sources

PKGS      := libmicrohttpd sqlite3 libcjson libcrypto libarchive libcurl zlib libmnl libnftables
CC        ?= cc
O         ?= build
CFLAGS_WARN := -std=gnu17 -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Werror
CFLAGS    ?= -O2 -g
ALL_CFLAGS := $(CFLAGS_WARN) $(CFLAGS) -Isrc -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS))
# The agent's layer unpacking loads libarchive with dlopen (agent/libarchive.h),
# but berth build, image save/load and layer packing (agent/archive.c,
# build/pack.c, build/build.c) still call it directly, so it is linked too:
# the idle agent's memory saving waits until they go through that table.
LIBS      := $(shell pkg-config --libs $(PKGS)) -ldl -lpthread -lm
# the unit tests write the tars they unpack with libarchive itself
TEST_LIBS := $(shell pkg-config --libs libarchive)
LDFLAGS   ?=

SRCS      := $(sort $(wildcard src/core/*.c src/store/*.c src/api/*.c src/registry/*.c \
	src/sched/*.c src/agent/*.c src/build/*.c src/cli/*.c))
OBJS      := $(SRCS:%.c=$(O)/%.o)
MAIN_OBJ  := $(O)/src/main.o $(O)/src/dev.o
# berth-shim: the container monitor (agent/shim.c) with the few core files it
# needs, linked with libc alone so that it starts fast (src/shim/main.c).
SHIM_OBJS := $(O)/src/shim/main.o $(O)/src/agent/shim.o $(O)/src/core/buf.o \
	$(O)/src/core/fs.o $(O)/src/core/jsonw.o $(O)/src/core/util.o
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_SRCS:tests/fuzz/%.c=$(O)/fuzz-replay/%)
FUZZ_SECONDS ?= 60

.PHONY: all test test-unit test-integration test-asan fuzz fuzz-replay bench clean format format-check
all: berth

berth: $(O)/berth $(O)/berth-shim $(O)/berth-init
	@cp $(O)/berth berth
	@cp $(O)/berth-shim berth-shim
	@cp $(O)/berth-init berth-init

# the helpers are built with berth: the agent looks for them beside it
$(O)/berth: $(MAIN_OBJ) $(O)/libberth.a | $(O)/berth-shim $(O)/berth-init
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/berth-shim: $(SHIM_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^

# berth-init: a container's pid 1 for initProcessEnabled, run inside the
# container, so static, stripped and never with the sanitizers (CFLAGS).
$(O)/berth-init: src/init/init.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_WARN) -O2 -static -s -o $@ $<

$(O)/libberth.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(O)/tests/%: tests/unit/%.c $(O)/libberth.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(O)/libberth.a $(LIBS) $(TEST_LIBS) -lcmocka $(LDFLAGS)

# The fuzz targets with a plain main that replays their saved corpus.
$(O)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(O)/libberth.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay.c $(O)/libberth.a $(LIBS) $(LDFLAGS)

fuzz-replay: $(FUZZ_REPLAY)
	@tests/run-fuzz-replay $(O)

test-unit: $(UNIT_BINS) $(O)/berth $(O)/berth-shim $(O)/berth-init
	@tests/run-unit $(UNIT_BINS)

test-integration: berth
	@BERTH_BIN=$(CURDIR)/$(O)/berth tests/run-integration

test: berth $(UNIT_BINS) $(FUZZ_REPLAY)
	@tests/run-all $(O)

test-asan:
	$(MAKE) O=build-asan CC=clang \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		LDFLAGS="-fsanitize=address,undefined" test

# libFuzzer targets link the library built with the fuzzer's instrumentation.
FUZZ_O := build-fuzz
fuzz:
	$(MAKE) O=$(FUZZ_O) CC=clang \
		CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
		$(FUZZ_O)/libberth.a
	@mkdir -p $(FUZZ_O)/fuzz
	@set -e; for f in $(FUZZ_SRCS); do \
		n=$$(basename $$f .c); \
		clang $(CFLAGS_WARN) -O1 -g -Isrc -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS)) \
			-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
			-o $(FUZZ_O)/fuzz/$$n $$f $(FUZZ_O)/libberth.a $(LIBS); \
		mkdir -p tests/fuzz/corpus/$$n $(FUZZ_O)/corpus/$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		$(FUZZ_O)/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
			$(FUZZ_O)/corpus/$$n tests/fuzz/corpus/$$n >$(FUZZ_O)/fuzz/$$n.log 2>&1 \
			|| { tail -40 $(FUZZ_O)/fuzz/$$n.log; exit 1; }; \
		tail -1 $(FUZZ_O)/fuzz/$$n.log; \
	done

bench: berth
	@bench/run

# The generated model tables (src/api/model_*.c) keep the generator's layout.
FORMAT_FILES = $$(git ls-files '*.c' '*.h' | grep -v '^src/api/model_')
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@if clang-format --dry-run --Werror $(FORMAT_FILES); then \
		echo "format: 1 passed, 0 failed"; \
	else echo "format: 0 passed, 1 failed"; exit 1; fi

clean:
	rm -rf build build-asan build-fuzz berth berth-shim berth-init

-include $(OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(SHIM_OBJS:.o=.d)
