# tests/fuzz/fuzz.mk - libFuzzer harnesses (clang, ASan + UBSan).
#
# Include from the main Makefile AFTER LIB_SRC, DAEMON_SRC, PKG_CFLAGS,
# PKG_LIBS and WARN are defined (e.g. as its last line):
#     include tests/fuzz/fuzz.mk
# or try it without editing anything:
#     make -f Makefile -f tests/fuzz/fuzz.mk fuzz-smoke
#
#   make fuzz-build   build every tests/fuzz/fuzz_*.c into build/fuzz/fuzz_*
#   make fuzz         run each harness for FUZZ_SECONDS (default 60) on its
#                     own copy of the corpus, build/fuzz/corpus-<name>/, and
#                     print the executions; FUZZ_JOBS (default 1) in parallel;
#                     FUZZ_RUNS=N also stops each after N inputs
#   make fuzz-smoke   each harness for FUZZ_SMOKE_RUNS inputs (20000) or
#                     FUZZ_SMOKE_SECONDS (10), whichever comes first; fails
#                     on any finding (crash, sanitizer report, leak, hang)
#   FUZZ_TARGETS="frames receipt" limits fuzz and fuzz-smoke to those.
#   FUZZ_TOLERATE="NAME,..."
#   silences the named oracles of a known, not yet fixed bug (see the harness
#   headers).
#
# Sources are compiled once more into build/fuzz/obj/ with the fuzzer's
# coverage instrumentation; daemon/main.c and the CLI's main are left out.

FUZZ_CC            ?= clang
FUZZ_DIR           ?= build/fuzz
FUZZ_SECONDS       ?= 60
FUZZ_JOBS          ?= 1
FUZZ_RUNS          ?= 0
FUZZ_SMOKE_RUNS    ?= 20000
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_NAMES         := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS       ?= $(FUZZ_NAMES)
FUZZ_TOLERATE      ?=

FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -O1 -g $(FUZZ_SAN) $(WARN) \
                -Iinclude -Iclient -Idaemon -Itests/fuzz $(PKG_CFLAGS)
# cmd_conf.c is the CLI's config loader (cli_conf_load) for fuzz_config.
FUZZ_LIB_SRC := $(LIB_SRC) $(DAEMON_SRC) client/cmd_conf.c tests/fuzz/world.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_LIB     := $(FUZZ_DIR)/libseinpost-fuzz.a
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_HEADERS := $(wildcard include/*.h client/*.h daemon/*.h tests/fuzz/*.h)

.PHONY: fuzz fuzz-build fuzz-smoke

fuzz-build: $(FUZZ_BINS)

# Keep the harness objects make would otherwise delete as intermediates.
.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o)

$(FUZZ_DIR)/obj/%.o: %.c $(FUZZ_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm -lpthread

fuzz: fuzz-build
	@SEINPOST_FUZZ_TOLERATE=$(FUZZ_TOLERATE) \
	    tests/fuzz/run-fuzz -d $(FUZZ_DIR) -s $(FUZZ_SECONDS) -r $(FUZZ_RUNS) -j $(FUZZ_JOBS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	@SEINPOST_FUZZ_TOLERATE=$(FUZZ_TOLERATE) FUZZ_SMOKE_RUNS=$(FUZZ_SMOKE_RUNS) FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS) \
	    tests/fuzz/run-smoke -d $(FUZZ_DIR) -j $(FUZZ_JOBS) $(FUZZ_TARGETS)
