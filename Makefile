# BeTrace build.  `make` builds everything into build/; `make run` starts
# Redis, the engine and nginx; `make test` runs every test; `make bench`
# runs the benchmarks; `make fuzz` builds the libFuzzer targets.
#
# Sources are found by directory, so adding a file needs no edit here.
# `make SANITIZE=address,undefined` builds the C code (not nginx itself)
# with sanitizers; the tests then run under them.

CC       ?= cc
B        := build
SANITIZE ?=

WARN     := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes \
            -Wwrite-strings -Wno-unused-parameter -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -fPIC -D_GNU_SOURCE $(WARN) -I. -I$(B)/gen \
            -I/usr/include/x86_64-linux-gnu
LDFLAGS  ?=
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

LIBS     := -lprotobuf-c -ljansson -lurcu -lhiredis -lpcre2-8 -lz -lpthread -lm

# --- generated protobuf-c code ------------------------------------------
PROTOS   := $(shell find proto -name '*.proto' | sort)
GEN_C    := $(patsubst proto/%.proto,$(B)/gen/%.pb-c.c,$(PROTOS))
GEN_H    := $(GEN_C:.c=.h)

$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(B)/gen
	protoc-c --c_out=$(B)/gen -Iproto $<

# --- libraries -------------------------------------------------------------
obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

SHM_SRC    := $(wildcard shm/*.c)
PROTO_SRC  := $(wildcard proto/*.c)
DSL_SRC    := $(wildcard dsl/*.c)
ENGINE_SRC := $(filter-out engine/main.c,$(wildcard engine/*.c))
CLI_SRC    := $(wildcard cli/*.c)

LIB_OBJS   := $(call obj,$(SHM_SRC) $(PROTO_SRC) $(DSL_SRC) $(ENGINE_SRC)) \
              $(patsubst $(B)/gen/%.c,$(B)/obj/gen/%.o,$(GEN_C))
LIBBT      := $(B)/libbetrace.a

$(B)/obj/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Werror,$(CFLAGS)) -MMD -MP -c $< -o $@

$(B)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBBT): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# --- programs --------------------------------------------------------------
ENGINE  := $(B)/betrace-engine
CLI     := $(B)/betrace
MODULE  := $(B)/ngx_http_betrace_module.so

all: $(ENGINE) $(CLI) $(MODULE)

$(ENGINE): $(call obj,engine/main.c) $(LIBBT)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(CLI): $(call obj,$(CLI_SRC)) $(LIBBT)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# nginx compiles the module itself (see ./config); this only drives it.
MODULE_DEPS := config $(wildcard ngx_betrace_module/*.[ch]) $(SHM_SRC) \
               $(PROTO_SRC) $(DSL_SRC) $(wildcard shm/*.h proto/*.h dsl/*.h) \
               $(PROTOS)
$(MODULE): $(MODULE_DEPS)
	scripts/build-module.sh

# --- tests -----------------------------------------------------------------
UNIT_SRC  := $(wildcard t/unit/test_*.c)
INTEG_SRC := $(wildcard t/integration/test_*.c)
T_HELPERS := $(call obj,$(wildcard t/lib/*.c))
UNIT_BIN  := $(patsubst t/unit/%.c,$(B)/t/%,$(UNIT_SRC))
INTEG_BIN := $(patsubst t/integration/%.c,$(B)/t/%,$(INTEG_SRC))
FUZZ_SRC  := $(wildcard t/fuzz/fuzz_*.c)
REPLAY_BIN := $(patsubst t/fuzz/%.c,$(B)/t/replay_%,$(FUZZ_SRC))

$(B)/t/%: $(B)/obj/t/unit/%.o $(T_HELPERS) $(LIBBT)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcriterion -lcurl

$(B)/t/%: $(B)/obj/t/integration/%.o $(T_HELPERS) $(LIBBT)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcriterion -lcurl

# Fuzz targets also build as plain programs that replay the corpus, so the
# test run checks every corpus file without needing libFuzzer.
$(B)/t/replay_%: $(B)/obj/t/fuzz/%.o $(call obj,t/fuzz/replay_main.c) $(LIBBT)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# test_bench_gen runs the generator: build it here, not from inside the
# (parallel) test processes.
test-bin: all $(UNIT_BIN) $(INTEG_BIN) $(REPLAY_BIN) $(B)/bench/gen

test:
	scripts/deps.sh --test
	$(MAKE) test-bin
	scripts/test.sh

# libFuzzer builds (clang), one binary per target in build/fuzz/.
fuzz:
	scripts/deps.sh
	scripts/build-fuzz.sh

# --- run, bench --------------------------------------------------------------
run:
	scripts/deps.sh
	$(MAKE) all
	scripts/run.sh

# DSL evaluation throughput (bench/eval.sh runs it pinned to one CPU).
$(B)/bench/bench_eval: $(call obj,bench/bench_eval.c t/lib/span_build.c) $(LIBBT)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The engine with 100 rules and Redis (bench/signals.sh runs it).
$(B)/bench/bench_signals: $(call obj,bench/bench_signals.c t/lib/span_build.c) \
                          $(LIBBT)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Ingest load generator: prebuilds OTLP bodies (bench/run.sh runs it).  Only
# the generated protobuf-c code is linked, so it builds on its own.
$(B)/bench/gen: $(call obj,bench/gen.c) \
                $(patsubst $(B)/gen/%.c,$(B)/obj/gen/%.o,$(GEN_C))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lprotobuf-c -lz

bench:
	scripts/deps.sh
	$(MAKE) all
	bench/run.sh

clean:
	rm -rf $(B)

.PHONY: all test test-bin fuzz run bench clean
.DEFAULT_GOAL := all
.SECONDARY:

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
