# agent/agent.mk: extra rules for agent/, included by the top Makefile.
#   make bench   also runs tests/bench/bench_agent_intake (a script): a real
#                passerelle-agent taking in a backlog of 1,000 events, with
#                the ratio to this disk's fdatasync rate from the same run.
BENCH_BINS += tests/bench/bench_agent_intake
