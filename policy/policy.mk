# policy/policy.mk: extra build rules for policy/, included by the top
# Makefile (which already builds the library, passerelle-policy and the unit
# suites). Adds:
#   make fuzz-policy   libFuzzer on the policy loader for FUZZ_SECONDS (20 s),
#                      seeded with the shipped policy; skipped without clang.
#                      Runs at the end of `make check`.
#   make bench         also runs build/bench/bench_policy (decisions per second).

# --- libFuzzer target ---------------------------------------------------------
# Built with clang apart from the normal objects: libFuzzer needs its own
# instrumentation, and the loader is all it needs from the other libraries.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_POLICY  := $(B)/fuzz/fuzz_policy
FUZZ_SOURCES := policy/fuzz_policy.c $(POLICY_SRC) proto/pl_zpl.c proto/pl_vocab.c

$(FUZZ_POLICY): $(FUZZ_SOURCES) $(wildcard policy/*.h proto/pl_zpl.h proto/pl_vocab.h) $(GEN_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -Iproto -Ipolicy -I$(B)/gen $(PKG_CFLAGS) \
	    $(FUZZ_SOURCES) -o $@ $(PKG_LIBS)

.PHONY: fuzz-policy
fuzz-policy:
	@if command -v $(FUZZ_CC) >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory $(FUZZ_POLICY) || exit 1; \
	    mkdir -p $(B)/fuzz/corpus; \
	    cp policy/move.cfg tests/policy-fixtures/fuzz-seeds/*.cfg $(B)/fuzz/corpus/; \
	    echo "fuzz-policy: $(FUZZ_SECONDS) s of libFuzzer on the policy loader"; \
	    $(FUZZ_POLICY) -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
	        -dict=policy/fuzz_policy.dict -print_final_stats=1 \
	        -artifact_prefix=$(B)/fuzz/ $(B)/fuzz/corpus 2>$(B)/fuzz/fuzz.log \
	    && { tail -n 12 $(B)/fuzz/fuzz.log | grep -E '^(Done|stat::number_of_executed_units)'; \
	         echo "fuzz-policy: no crash"; } \
	    || { tail -n 60 $(B)/fuzz/fuzz.log; echo "fuzz-policy: FAILED, input saved in $(B)/fuzz/"; exit 1; }; \
	else \
	    echo "fuzz-policy: skipped ($(FUZZ_CC) not found; CI installs it)"; \
	fi
CHECK_EXTRA += fuzz-policy

# --- benchmark -------------------------------------------------------------------
$(B)/bench/bench_policy: $(B)/obj/tests/bench/bench_policy.o $(POLICY_LIB) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
BENCH_BINS += $(B)/bench/bench_policy

# test_pol_request runs the CLI as a reviewer would: build it first, even for
# `make check-unit` (the pattern rule still links the suite).
$(B)/tests/unit/test_pol_request: $(B)/bin/passerelle-policy
