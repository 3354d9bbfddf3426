# seinpost - signal-routing daemon between government organisations.
#
#   make            build release binaries into build/
#   make check      build with ASan+UBSan into build/asan/ and run every test
#   make demo       live demo: Burgerzaken emitter, daemon, two partners, then a
#                   network of nodes with a partner on HTTP
#   make unit       only the unit tests, under ASan+UBSan (build/asan/)
#   make fuzz       run each libFuzzer harness for FUZZ_SECONDS
#   make bench      benchmark against a peer broker (not part of check)
#   make install    PREFIX=/usr/local DESTDIR=
#
# Every target first installs missing Debian packages (.ci/install-deps).

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
BUILD   ?= build

PKGS    := libzmq libsodium jansson libcjson yaml-0.1 sqlite3 libcrypto libmicrohttpd libcurl libpq
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
# libseinpost (emitters, partners) needs no database server's client library
LIB_LIBS = $(shell pkg-config --libs $(filter-out libpq,$(PKGS)) 2>/dev/null) -lm -lpthread

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
PRELOAD_SO := $(BUILD)/tools/failsync.so

LIBA   := $(BUILD)/libseinpost.a
LIBSO  := $(BUILD)/libseinpost.so.0
BINS   := $(BUILD)/seinpostd $(BUILD)/seinpost

.PHONY: all deps check check-pg unit demo fuzz bench soak soak-old install clean
all: deps
	@$(MAKE) --no-print-directory binaries

binaries: $(BINS) $(LIBSO) $(UNIT_BIN) $(TOOL_BIN) $(PRELOAD_SO)

deps:
	@.ci/install-deps

$(BUILD)/%.o: %.c $(wildcard include/*.h client/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBSO): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libseinpost.so.0 $(LDFLAGS_ALL) -o $@ $^ $(LIB_LIBS)

$(BUILD)/seinpostd: $(BUILD)/daemon/main.o $(DAEMON_OBJ) $(LIBA)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/seinpost: $(CLI_OBJ) $(DAEMON_OBJ) $(LIBA)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/test.h $(DAEMON_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS_ALL) -o $@ $< $(DAEMON_OBJ) $(LIBA) $(LIBS_ALL)

# without the sanitizers: it is preloaded into a sanitized daemon
$(PRELOAD_SO): tests/preload/failsync.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

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

# every integration test with the daemon on PostgreSQL, but those marked
# "# sqlite-only: REASON" (about 15 minutes; make check runs a core set)
check-pg: deps
	@$(MAKE) --no-print-directory binaries
	@$(MAKE) --no-print-directory binaries BUILD=build/asan OPT="-O1 -g" SAN="$(SANFLAGS)"
	@tests/pg/run-integration --release build build/asan

unit: deps
	@$(MAKE) --no-print-directory binaries BUILD=build/asan OPT="-O1 -g" SAN="$(SANFLAGS)"
	@for t in build/asan/tests/test_*; do $$t || exit 1; done

demo: all
	@tests/demo/run build

# Fault injection: 50 daemon kill -9 cycles, 20 partner faults, 16 partner
# faults at the partners' --exec handlers under bursty and trickle traffic,
# a 24-hour outage compressed in time, disk full, corrupt database
# (tests/soak/); the checker counts what the partners' handlers got.
SOAK_CYCLES ?= 50
SOAK_PARTNER_CYCLES ?= 20
SOAK_HANDLER_CYCLES ?= 16
soak: all
	@BIN=build tests/soak/run --cycles $(SOAK_CYCLES) --partner-cycles $(SOAK_PARTNER_CYCLES) \
	    --handler-cycles $(SOAK_HANDLER_CYCLES)

# The soak's handler-fault phase against the last SEINPOST1 release
# (738cff0, taken with git archive and built in build/soak-old): it passes
# when the checker finds the signals that release loses.
soak-old:
	@tests/soak/run --old-build build/soak-old

clean:
	rm -rf build

# make install: PREFIX and DESTDIR as usual.
BINDIR     = $(PREFIX)/bin
SBINDIR    = $(PREFIX)/sbin
LIBDIR     = $(PREFIX)/lib
INCDIR     = $(PREFIX)/include
MANDIR     = $(PREFIX)/share/man
DATADIR    = $(PREFIX)/share/seinpost
UNITDIR    = $(PREFIX)/lib/systemd/system
SYSUSERSDIR = $(PREFIX)/lib/sysusers.d
TMPFILESDIR = $(PREFIX)/lib/tmpfiles.d

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	    $(DESTDIR)$(INCDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DATADIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 755 build/seinpost $(DESTDIR)$(BINDIR)/seinpost
	install -m 755 build/seinpostd $(DESTDIR)$(SBINDIR)/seinpostd
	install -m 644 build/libseinpost.a $(DESTDIR)$(LIBDIR)/libseinpost.a
	install -m 755 build/libseinpost.so.0 $(DESTDIR)$(LIBDIR)/libseinpost.so.0
	ln -sf libseinpost.so.0 $(DESTDIR)$(LIBDIR)/libseinpost.so
	install -m 644 include/seinpost.h $(DESTDIR)$(INCDIR)/seinpost.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/.*SP_VERSION_STRING "\(.*\)"/\1/p' include/seinpost.h)|g' \
	    conf/seinpost.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/seinpost.pc
	install -m 644 docs/man/seinpost.1 $(DESTDIR)$(MANDIR)/man1/seinpost.1
	install -m 644 docs/man/seinpost.yaml.5 $(DESTDIR)$(MANDIR)/man5/seinpost.yaml.5
	install -m 644 docs/man/seinpostd.8 $(DESTDIR)$(MANDIR)/man8/seinpostd.8
	install -m 644 conf/seinpost.yaml conf/client.yaml conf/partner.yaml $(DESTDIR)$(DATADIR)/
	sed -e 's|/usr/local/sbin/seinpostd|$(SBINDIR)/seinpostd|g' systemd/seinpostd.service \
	    > $(DESTDIR)$(UNITDIR)/seinpostd.service
	install -m 644 systemd/seinpost.sysusers $(DESTDIR)$(SYSUSERSDIR)/seinpost.conf
	install -m 644 systemd/seinpost.tmpfiles $(DESTDIR)$(TMPFILESDIR)/seinpost.conf

# libFuzzer harnesses: make fuzz [FUZZ_SECONDS=60], make fuzz-smoke.
include tests/fuzz/fuzz.mk

# make bench: side by side with Redis streams (tests/bench/).
include tests/bench/bench.mk
