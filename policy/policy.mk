# policy/policy.mk: build rules for the policy library's extras: the
# benchmark and the libFuzzer target for the policy loader. Included by the
# top Makefile, which already builds the library, the CLI and the unit suites.
