# proto/proto.mk: extra build rules for the proto library: the sharing log's
# Merkle tree benchmark. Included by the top Makefile; `make bench` runs it.

$(B)/bench/bench_merkle: $(B)/obj/tests/bench/bench_merkle.o $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

BENCH_BINS += $(B)/bench/bench_merkle
