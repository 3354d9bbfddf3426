# seinpost - signal-routing daemon between government organisations.
#
#   make            build release binaries into build/
#   make check      build with ASan+UBSan into build/asan/ and run every test
#   make demo       live demo: Burgerzaken emitter, daemon, two partners
#   make fuzz       run each libFuzzer harness for FUZZ_SECONDS
#   make bench      benchmark against a peer broker (not part of check)
#   make install    PREFIX=/usr/local DESTDIR=
#
# Every target first installs missing Debian packages (.ci/install-deps).

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
BUILD   ?= build

PKGS    := libzmq libsodium jansson yaml-0.1 sqlite3 libcrypto libmicrohttpd
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
OPT     ?= -O2 -g
SAN     ?=
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(SAN) $(WARN) -fPIC \
             -Iinclude -Iclient -Idaemon $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL = $(SAN) $(LDFLAGS)
LIBS_ALL = $(PKG_LIBS) -lm -lpthread

LIB_SRC   := $(wildcard client/sp_*.c)
CLI_SRC   := client/seinpost.c $(wildcard client/cmd_*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
TOOL_SRC  := $(wildcard tests/tools/*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

LIBA   := $(BUILD)/libseinpost.a
LIBSO  := $(BUILD)/libseinpost.so.0
BINS   := $(BUILD)/seinpostd $(BUILD)/seinpost

.PHONY: all deps check unit integration demo fuzz bench install clean
all: deps
	@$(MAKE) --no-print-directory binaries

binaries: $(BINS) $(LIBSO) $(UNIT_BIN) $(TOOL_BIN)

deps:
	@.ci/install-deps

$(BUILD)/%.o: %.c $(wildcard include/*.h client/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBSO): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libseinpost.so.0 $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/seinpostd: $(BUILD)/daemon/main.o $(DAEMON_OBJ) $(LIBA)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/seinpost: $(CLI_OBJ) $(DAEMON_OBJ) $(LIBA)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/test.h $(DAEMON_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS_ALL) -o $@ $< $(DAEMON_OBJ) $(LIBA) $(LIBS_ALL)

$(BUILD)/tools/%: tests/tools/%.c $(DAEMON_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(DAEMON_OBJ) $(LIBA) $(LIBS_ALL)

# make check: everything under ASan+UBSan, plus a release build for the
# memory test (ASan's shadow memory would hide what the daemon itself uses).
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
check: deps
	@$(MAKE) --no-print-directory binaries
	@$(MAKE) --no-print-directory binaries BUILD=build/asan OPT="-O1 -g" SAN="$(SANFLAGS)"
	@tests/run build/asan build

demo: all
	@tests/demo/run build

clean:
	rm -rf build
