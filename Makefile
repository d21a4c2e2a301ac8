# zkauth: pam_zkauth.so and zkauth-verifyd.
# Standard targets: all check install uninstall dist clean deps demo bench fuzz.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
MANDIR     ?= $(PREFIX)/share/man
PKG_CONFIG ?= pkg-config
PAMDIR     ?= $(shell $(PKG_CONFIG) --variable=libdir pam 2>/dev/null || echo /lib)/security
DESTDIR    ?=

# Out-of-tree build directory; `make SAN=1` builds with ASan/UBSan into build-san.
SAN ?=
ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

CC ?= cc
WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wwrite-strings -Wpointer-arith -Wcast-qual -Wundef -Wvla -Wno-unused-parameter
HARDEN := -fstack-protector-strong -fno-strict-overflow
ifeq ($(SAN),)
HARDEN += -D_FORTIFY_SOURCE=2
endif
OPT ?= -O2 -g
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -DZK_VERSION=\"$(VERSION)\" -Iinclude -Icommon \
               $(OPT) $(WARN) $(HARDEN) $(SANFLAGS)
BASE_LDFLAGS := -Wl,-z,relro,-z,now -Wl,--as-needed $(SANFLAGS)

PAM_LIBS   := $(shell $(PKG_CONFIG) --libs pam 2>/dev/null || echo -lpam)
QR_CFLAGS  := $(shell $(PKG_CONFIG) --cflags libqrencode 2>/dev/null)
QR_LIBS    := $(shell $(PKG_CONFIG) --libs libqrencode 2>/dev/null || echo -lqrencode)
D_PKGS     := libcurl libcrypto libssl libcjson libevent_core libevent_extra libevent_openssl
D_CFLAGS   := $(shell $(PKG_CONFIG) --cflags $(D_PKGS) 2>/dev/null)
D_LIBS     := $(shell $(PKG_CONFIG) --libs $(D_PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

COMMON_SRC := $(wildcard common/*.c)
PAM_SRC    := $(wildcard pam_zkauth/*.c)
D_SRC      := $(filter-out zkauth-verifyd/main.c,$(wildcard zkauth-verifyd/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
PAM_OBJ    := $(PAM_SRC:%.c=$(BUILD)/obj/%.o)
D_OBJ      := $(D_SRC:%.c=$(BUILD)/obj/%.o)

MODULE := $(BUILD)/pam_zkauth.so
DAEMON := $(BUILD)/zkauth-verifyd

.PHONY: all check unit e2e check-san install uninstall dist clean deps demo bench fuzz
all: $(MODULE) $(DAEMON)

$(BUILD)/obj/common/%.o: common/%.c include/zkauth_proto.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fPIC $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/pam_zkauth/%.o: pam_zkauth/%.c $(wildcard pam_zkauth/*.h) include/zkauth_proto.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fPIC $(QR_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/zkauth-verifyd/%.o: zkauth-verifyd/%.c $(wildcard zkauth-verifyd/*.h) include/zkauth_proto.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fPIE $(D_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libzkpam.a: $(PAM_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libzkd.a: $(D_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libzkcommon.a: $(COMMON_OBJ)
	@rm -f $@; ar rcs $@ $^

# The module exports only pam_sm_* (pam_zkauth/pam_zkauth.map).
$(MODULE): $(PAM_OBJ) $(COMMON_OBJ) pam_zkauth/pam_zkauth.map
	$(CC) -shared -fPIC -Wl,--version-script=pam_zkauth/pam_zkauth.map -Wl,-z,defs \
	  $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(PAM_OBJ) $(COMMON_OBJ) $(QR_LIBS) $(PAM_LIBS)

$(DAEMON): $(BUILD)/obj/zkauth-verifyd/main.o $(BUILD)/libzkd.a $(BUILD)/libzkcommon.a
	$(CC) -pie $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(D_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libzkpam.a $(BUILD)/libzkd.a $(BUILD)/libzkcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Izkauth-verifyd -Ipam_zkauth $(D_CFLAGS) $(QR_CFLAGS) $(CPPFLAGS) $(CFLAGS) \
	  -o $@ $< $(BUILD)/libzkpam.a $(BUILD)/libzkd.a $(BUILD)/libzkcommon.a \
	  $(BASE_LDFLAGS) -Wl,--no-as-needed $(LDFLAGS) $(CMOCKA_LIBS) $(D_LIBS) $(QR_LIBS) $(PAM_LIBS) -ldl

unit: all $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; ZK_SRCDIR=$(CURDIR) ZK_BUILD=$(CURDIR)/$(BUILD) $$t; done

e2e: all
	ZK_BUILD=$(CURDIR)/$(BUILD) SAN=$(SAN) node --test --test-concurrency=1 tests/e2e/

# The whole suite, then again under ASan/UBSan.
check: deps
	$(MAKE) unit e2e
	$(MAKE) SAN=1 unit e2e

deps:
	@tests/deps.sh

demo: deps all
	ZK_BUILD=$(CURDIR)/$(BUILD) INTERACTIVE=$(INTERACTIVE) node tests/e2e/demo.mjs

$(BUILD)/bench_verify: tests/bench/bench_verify.c $(BUILD)/libzkd.a $(BUILD)/libzkcommon.a
	$(CC) $(BASE_CFLAGS) -Izkauth-verifyd $(D_CFLAGS) $(CPPFLAGS) $(CFLAGS) -o $@ $< \
	  $(BUILD)/libzkd.a $(BUILD)/libzkcommon.a $(BASE_LDFLAGS) $(LDFLAGS) $(D_LIBS)

# Token verification throughput against raw OpenSSL, same run, one core.
bench: $(BUILD)/bench_verify
	taskset -c 0 $(BUILD)/bench_verify 2>/dev/null || $(BUILD)/bench_verify

install: all
	install -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(SBINDIR)
	install -m 0644 $(MODULE) $(DESTDIR)$(PAMDIR)/pam_zkauth.so
	install -m 0755 $(DAEMON) $(DESTDIR)$(SBINDIR)/zkauth-verifyd

uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_zkauth.so $(DESTDIR)$(SBINDIR)/zkauth-verifyd

dist:
	git archive --format=tar.gz --prefix=zkauth-$(VERSION)/ -o zkauth-$(VERSION).tar.gz HEAD

clean:
	rm -rf build build-san zkauth-*.tar.gz
