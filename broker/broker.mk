# broker/broker.mk: extra build rules for broker/, included by the top
# Makefile (which already builds the library, the binaries and the suites).
#   make bench   also runs build/bench/bench_store: the durable store at
#                1,000,000 log entries (append, reopen-to-ready, case query,
#                full verify), with ratios to baselines from the same run.

$(B)/bench/bench_store: $(B)/obj/tests/bench/bench_store.o $(BROKER_LIB) $(POLICY_LIB) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

BENCH_BINS += $(B)/bench/bench_store

# make bench also runs build/bench/bench_broker: the real passerelle-broker
# end to end (sustained events/s, publish->ack/delivery latency at 1,000
# events/s, RSS, restart-to-ready at 1,000,000 entries) with ratios to raw
# CURVE and Ed25519 verify ceilings measured in the same run.
$(B)/bench/bench_broker: $(B)/obj/tests/bench/bench_broker.o $(B)/obj/tests/bench/bench_broker_env.o \
                         $(B)/obj/tests/bench/bench_broker_seal.o \
                         $(B)/obj/tests/e2e/pe_port.o \
                         $(BROKER_LIB) $(POLICY_LIB) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

BENCH_BINS += $(B)/bench/bench_broker

# tests/unit/test_powerloss runs the store under an LD_PRELOAD shim that
# keeps each file as of its last sync (a power loss); built beside it.
$(B)/tests/shim/powerloss.so: tests/shim/powerloss.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared -o $@ $< -ldl

$(B)/tests/unit/test_powerloss: $(B)/tests/shim/powerloss.so
