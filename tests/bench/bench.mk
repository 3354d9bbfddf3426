# tests/bench/bench.mk - `make bench`: seinpost against a peer broker
# (Redis streams, appendfsync always), side by side. Included by the
# Makefile; not part of `make check`. seinpost runs on SQLite and, in
# the phases with rows "on PostgreSQL", on PostgreSQL too.
#
#   make bench                   full run (about 17 minutes), table in
#                                $(BUILD)/bench/results.md
#   make bench BENCH_QUICK=1     short sanity run (backlog of 100 000)
#   make bench BENCH_ARGS='--only ingress,e2e --no-peer'
#   make bench BENCH_ARGS=--no-pg   without the rows of seinpost on PostgreSQL
#                                (a private cluster, tests/pg/pg-start)
#   make bench BENCH_PORT=37400  ports: N (ingress), N+1.. (partners), N+20 (Redis)
#   make bench BENCH_STRICT=1    exit status 3 when a target is missed
#   make bench-callgrind         daemon instructions per signal under
#                                callgrind at 0, 1 and 3 subscribers
#                                (tests/bench/callgrind-per-signal; e.g.
#                                BENCH_CALLGRIND_ARGS='-n 500 -s "0 1"')
#
# Installs the peer when missing (tests/bench/install-peer: redis-server,
# libhiredis-dev), as .ci/install-deps does for the rest.
ifndef BENCH_MK_INCLUDED
BENCH_MK_INCLUDED := 1
BENCH_MK := $(lastword $(MAKEFILE_LIST))

BENCH_SRC  := $(wildcard tests/bench/*.c)
BENCH_BIN  := $(BUILD)/bench/bench
BENCH_PORT ?= 27400
BENCH_CFLAGS = $(shell pkg-config --cflags hiredis 2>/dev/null)
BENCH_LIBS   = $(shell pkg-config --libs hiredis 2>/dev/null || echo -lhiredis) -lrt

.PHONY: bench bench-build bench-callgrind
bench: deps
	@tests/bench/install-peer
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) -f $(BENCH_MK) bench-build
	$(BENCH_BIN) --bin $(BUILD) --dir $(BUILD)/bench/work --port $(BENCH_PORT) \
	    $(if $(BENCH_QUICK),--quick) $(if $(BENCH_STRICT),--strict) $(BENCH_ARGS)

bench-build: $(BUILD)/seinpostd $(BUILD)/seinpost $(BENCH_BIN)

# ports N+100 (ingress), N+101.. (partners): apart from a `make bench`
bench-callgrind: deps
	@tests/bench/install-peer
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) -f $(BENCH_MK) bench-build
	tests/bench/callgrind-per-signal -b $(BUILD) -p $$(( $(BENCH_PORT) + 100 )) \
	    $(BENCH_CALLGRIND_ARGS)

$(BENCH_BIN): $(BENCH_SRC) tests/bench/bench.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(BENCH_CFLAGS) -Itests/bench $(LDFLAGS_ALL) -o $@ \
	    $(BENCH_SRC) $(LIBA) $(LIBS_ALL) $(BENCH_LIBS)
endif
