# passerelle: top-level build.
#
# One static library per shared layer (proto/, policy/, agent/), binaries on
# top, Check suites in tests/. Sources are discovered by folder, so adding a
# module means adding its .h and .c, nothing here. Everything lands in build/.
#
#   make              build everything (installs missing Debian packages as root)
#   make check        build and run every Check suite
#   make check-asan   the same under AddressSanitizer + UBSan (build-asan/)
#   make demo         a broker and four agencies on 127.0.0.1, a real case flow
#   make bench        benchmarks with ratios against this machine's own ceilings
#   make install PREFIX=/usr/local DESTDIR=
#   make clean

CC      ?= cc
B       ?= build
PREFIX  ?= /usr/local
DESTDIR ?=

PKGS      := libczmq libzmq libsodium nettle libprotobuf-c lmdb jansson libmicrohttpd
DEPS_OK   := $(shell deploy/install-deps >&2 && echo yes)
ifneq ($(DEPS_OK),yes)
$(error missing dependencies: see the apt-get line above)
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lpthread
CHECK_LIBS := $(shell pkg-config --libs check)

SAN       ?=
OPT       ?= -O2
CFLAGS    := -std=c11 -Wall -Wextra -Werror $(OPT) -g -D_GNU_SOURCE $(SAN) \
             -Iproto -Ipolicy -Ibroker -Iagent -I$(B)/gen -Itests $(PKG_CFLAGS) \
             $(EXTRA_CFLAGS)
LDFLAGS   := $(SAN) $(EXTRA_LDFLAGS)

# --- sources, by folder -------------------------------------------------------
# A file named main_*.c is a program's entry point, not part of the library.
GEN_C        := $(B)/gen/passerelle.pb-c.c
GEN_H        := $(B)/gen/passerelle.pb-c.h
PROTO_SRC    := $(filter-out proto/main_%.c,$(wildcard proto/*.c))
POLICY_SRC   := $(filter-out policy/main_%.c policy/fuzz_%.c,$(wildcard policy/*.c))
BROKER_SRC   := $(filter-out broker/main_%.c,$(wildcard broker/*.c))
AGENT_SRC    := $(filter-out agent/main_%.c,$(wildcard agent/*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

PROTO_LIB    := $(B)/libpasserelle-proto.a
POLICY_LIB   := $(B)/libpasserelle-policy.a
BROKER_LIB   := $(B)/libpasserelle-broker.a
AGENT_LIB    := $(B)/libpasserelle-agent.a

BINS := $(B)/bin/passerelle-broker $(B)/bin/passerelle-agent $(B)/bin/passerelle
ifneq ($(wildcard policy/main_policy.c),)
BINS += $(B)/bin/passerelle-policy
endif
ifneq ($(wildcard broker/main_audit.c),)
BINS += $(B)/bin/passerelle-audit
endif

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
E2E_SRC   := $(wildcard tests/e2e/test_*.c)
HARNESS   := $(filter-out tests/e2e/test_%.c,$(wildcard tests/e2e/*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
E2E_BINS  := $(patsubst tests/e2e/%.c,$(B)/tests/e2e/%,$(E2E_SRC))

# Test tools: programs tests and the demo run as real processes (not installed).
TOOL_SRC  := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(B)/tests/tools/passerelle-%,$(TOOL_SRC))

ALL_LIBS  = $(AGENT_LIB) $(BROKER_LIB) $(POLICY_LIB) $(PROTO_LIB)

# Objects of tests and tools are intermediate files to make: keep them.
.SECONDARY:

.PHONY: all check check-asan check-unit check-e2e demo bench install clean deps
all: $(BINS)

# --- generated protobuf code --------------------------------------------------
$(GEN_C) $(GEN_H): proto/passerelle.proto
	@mkdir -p $(B)/gen
	protoc-c --proto_path=proto --c_out=$(B)/gen proto/passerelle.proto

# Everything may include the generated header: build it first.
$(B)/obj/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The generated file is not ours to lint.
$(B)/obj/gen/passerelle.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Werror,$(CFLAGS)) -c $< -o $@

$(PROTO_LIB): $(B)/obj/gen/passerelle.pb-c.o $(call obj,$(PROTO_SRC))
	@rm -f $@; ar rcs $@ $^
$(POLICY_LIB): $(call obj,$(POLICY_SRC))
	@rm -f $@; ar rcs $@ $^
$(BROKER_LIB): $(call obj,$(BROKER_SRC))
	@rm -f $@; ar rcs $@ $^
$(AGENT_LIB): $(call obj,$(AGENT_SRC))
	@rm -f $@; ar rcs $@ $^

$(B)/bin/passerelle-broker: $(B)/obj/broker/main_broker.o $(BROKER_LIB) $(POLICY_LIB) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(B)/bin/passerelle-audit: $(B)/obj/broker/main_audit.o $(BROKER_LIB) $(POLICY_LIB) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(B)/bin/passerelle-agent: $(B)/obj/agent/main_agent.o $(AGENT_LIB) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(B)/bin/passerelle: $(B)/obj/agent/main_cli.o $(AGENT_LIB) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(B)/bin/passerelle-policy: $(B)/obj/policy/main_policy.o $(POLICY_LIB) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# --- tests ----------------------------------------------------------------------
$(B)/tests/unit/%: $(B)/obj/tests/unit/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS) $(PKG_LIBS) $(CHECK_LIBS)
$(B)/tests/e2e/%: $(B)/obj/tests/e2e/%.o $(call obj,$(HARNESS)) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(call obj,$(HARNESS)) $(ALL_LIBS) $(PKG_LIBS) $(CHECK_LIBS)

# A folder may add build rules in its own NAME.mk (e.g. policy/policy.mk);
# a target it appends to CHECK_EXTRA runs after the suites in `make check`.
# Benchmark programs a fragment appends to BENCH_BINS are run by `make bench`.
CHECK_EXTRA :=
BENCH_BINS  :=
include $(wildcard */*.mk)

$(B)/tests/tools/passerelle-%: $(B)/obj/tests/tools/%.o $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# End-to-end suites find the binaries through PASSERELLE_BIN and PASSERELLE_TOOLS.
RUN_ENV := PASSERELLE_BIN=$(abspath $(B)/bin) PASSERELLE_TOOLS=$(abspath $(B)/tests/tools) \
           PASSERELLE_POLICY=$(abspath policy/move.cfg)

check: $(BINS) $(TOOL_BINS) $(UNIT_BINS) $(E2E_BINS)
	@$(RUN_ENV) tests/run-suites $(UNIT_BINS) $(E2E_BINS)
	@for t in $(CHECK_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done

check-unit: $(UNIT_BINS)
	@tests/run-suites $(UNIT_BINS)

check-e2e: $(BINS) $(TOOL_BINS) $(E2E_BINS)
	@$(RUN_ENV) tests/run-suites $(E2E_BINS)

# Same suites, separate build tree, sanitizers on. Check's fork mode is kept so
# each test is its own process and a sanitizer report fails that test.
check-asan:
	$(MAKE) B=build-asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    check

demo: $(BINS) $(TOOL_BINS)
	@$(RUN_ENV) deploy/demo

bench: $(BINS) $(TOOL_BINS) $(BENCH_BINS)
	@$(RUN_ENV) tests/bench/run $(BENCH_BINS)

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/passerelle
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 proto/passerelle.proto $(DESTDIR)$(PREFIX)/share/passerelle/
	$(if $(wildcard policy/move.cfg),install -m 0644 policy/move.cfg $(DESTDIR)$(PREFIX)/share/passerelle/)
	$(if $(wildcard man/*.1),install -d $(DESTDIR)$(PREFIX)/share/man/man1 && install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/)
	$(if $(wildcard man/*.8),install -d $(DESTDIR)$(PREFIX)/share/man/man8 && install -m 0644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/)
	install -d $(DESTDIR)$(PREFIX)/share/passerelle/examples
	install -m 0755 deploy/examples/*.sh $(DESTDIR)$(PREFIX)/share/passerelle/examples/
	install -m 0644 agent/openapi.yaml $(DESTDIR)$(PREFIX)/share/passerelle/

clean:
	rm -rf build build-asan

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
