# libFuzzer targets for the parsers that read untrusted bytes (tests/fuzz/).
# Included from the top Makefile, whose BUILD and PKG_CONFIG it uses.
#
#   make fuzz                    build every target into $(BUILD)/fuzz/
#   make fuzz-run                run each for FUZZ_SECONDS on a copy of its seeds;
#                                fails when any target crashes, leaks or times out
#   make fuzz-run FUZZ_TARGETS=fuzz_jwt FUZZ_SECONDS=600
#   make fuzz-seeds              rewrite the generated seeds (gen-*) of tests/fuzz/corpus/
#
# Needs clang with its libFuzzer runtime (Debian: clang libclang-rt-14-dev).
# Findings land in $(BUILD)/fuzz/run/<target>/artifacts/, never in the
# committed corpus; reproduce one with `$(BUILD)/fuzz/<target> FILE`.

# Wherever this file is included, it does not become the default goal.
FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
# Per input, in seconds: the slowest honest input (an 8192-bit RSA key
# under ASan) takes milliseconds.
FUZZ_TIMEOUT ?= 25
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_SRCDIR  := tests/fuzz

FUZZ_PKGS       := libcrypto libcjson libevent_core libevent_extra libcurl
FUZZ_PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(FUZZ_PKGS) 2>/dev/null)
FUZZ_LIBS       := $(shell $(PKG_CONFIG) --libs $(FUZZ_PKGS) 2>/dev/null || \
                     echo -lcrypto -lcjson -levent_core -levent_extra -lcurl)

# UBSan findings abort, so libFuzzer counts them as crashes.
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
               -fno-omit-frame-pointer
FUZZ_WARN   := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
               -Wwrite-strings -Wpointer-arith -Wundef -Wvla -Wno-unused-parameter
FUZZ_CFLAGS := -std=c11 -g -O1 -D_GNU_SOURCE -DZK_VERSION=\"fuzz\" \
               -Iinclude -Icommon -Izkauth-verifyd -I$(FUZZ_SRCDIR)/support \
               $(FUZZ_WARN) $(FUZZ_PKG_CFLAGS)

# The parsers, straight from the daemon's sources (no event loop, network
# or socket code), and the harnesses' own helpers.
FUZZ_LIB_SRC := common/proto.c \
                $(addprefix zkauth-verifyd/,jwt.c jwks.c b64url.c alg.c config.c accounts.c util.c log.c \
                  oidc_parse.c callback.c) \
                $(wildcard $(FUZZ_SRCDIR)/support/*.c)
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_HDRS    := $(wildcard include/*.h zkauth-verifyd/*.h $(FUZZ_SRCDIR)/support/*.h)

FUZZ_ALL     := $(patsubst $(FUZZ_SRCDIR)/%.c,%,$(wildcard $(FUZZ_SRCDIR)/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BINS    := $(FUZZ_ALL:%=$(FUZZ_DIR)/%)

.PHONY: fuzz fuzz-run fuzz-seeds

fuzz: $(FUZZ_BINS)

# The targets' objects come from a chain of pattern rules: keep them.
.SECONDARY: $(FUZZ_ALL:%=$(FUZZ_DIR)/obj/$(FUZZ_SRCDIR)/%.o)

# -fsanitize=fuzzer when compiling only adds the coverage instrumentation;
# libFuzzer's main() comes in at link time.
$(FUZZ_DIR)/obj/%.o: %.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/libfuzzzk.a: $(FUZZ_LIB_OBJ)
	@rm -f $@; ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/$(FUZZ_SRCDIR)/fuzz_%.o $(FUZZ_DIR)/libfuzzzk.a
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) $(LDFLAGS) -o $@ $^ $(FUZZ_LIBS)

# Each target on its own copy of the committed seeds (libFuzzer adds what it
# finds to the first corpus directory it is given), then a summary line.
fuzz-run: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)
	@fail=""; \
	for t in $(FUZZ_TARGETS); do \
		w=$(FUZZ_DIR)/run/$$t; \
		mkdir -p $$w/corpus $$w/artifacts; \
		cp $(FUZZ_SRCDIR)/corpus/$$t/* $$w/corpus/ 2>/dev/null || true; \
		dict=""; \
		if [ -f $(FUZZ_SRCDIR)/dict/$$t.dict ]; then dict=-dict=$(FUZZ_SRCDIR)/dict/$$t.dict; fi; \
		echo "== $$t ($(FUZZ_SECONDS) s)"; \
		if $(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
			-print_final_stats=1 -artifact_prefix=$$w/artifacts/ $$dict \
			$$w/corpus >$$w/log 2>&1; then \
			grep -E '^#[0-9]+.*DONE' $$w/log | tail -n 1; \
			grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' $$w/log; \
		else \
			fail="$$fail $$t"; \
			tail -n 40 $$w/log; \
		fi; \
	done; \
	if [ -n "$$fail" ]; then \
		echo "fuzz-run: FAILED:$$fail (logs and reproducers in $(FUZZ_DIR)/run/)"; \
		exit 1; \
	fi; \
	echo "fuzz-run: all targets ran $(FUZZ_SECONDS) s without a finding"

# The generated seeds: JWKS documents and tokens from freshly made keys,
# IPC frames from the project's encoder. Hand-written seeds are not touched.
$(FUZZ_DIR)/gen_seeds: $(FUZZ_SRCDIR)/gen_seeds.c $(FUZZ_SRCDIR)/support/keys.c common/proto.c \
		       $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ \
	  $(FUZZ_SRCDIR)/gen_seeds.c $(FUZZ_SRCDIR)/support/keys.c common/proto.c $(FUZZ_LIBS)

fuzz-seeds: $(FUZZ_DIR)/gen_seeds
	$(FUZZ_DIR)/gen_seeds $(FUZZ_SRCDIR)/corpus

.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
