# zkauth: pam_zkauth.so and zkauth-verifyd.
# Standard targets: all check install uninstall dist clean deps demo bench fuzz.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
MANDIR     ?= $(PREFIX)/share/man
# Installed only when set: the systemd unit (e.g. /lib/systemd/system) and
# the sysusers.d file that makes the zkauth user (e.g. /usr/lib/sysusers.d).
UNITDIR    ?=
SYSUSERSDIR ?=
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

.PHONY: all check unit e2e check-san install uninstall dist clean deps demo bench fuzz libs test-libs
all: $(MODULE) $(DAEMON)

# The library flags above are read from pkg-config when make starts. A
# target that needs them fails here, naming the Debian package, instead of
# at link time; `demo` and `check` install them first and then run a fresh
# make, which reads the flags again.
libs:
	@tests/deps.sh --check-libs
test-libs:
	@tests/deps.sh --check-libs tests

$(BUILD)/obj/common/%.o: common/%.c include/zkauth_proto.h | libs
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fPIC $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/pam_zkauth/%.o: pam_zkauth/%.c $(wildcard pam_zkauth/*.h) include/zkauth_proto.h | libs
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fPIC $(QR_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/zkauth-verifyd/%.o: zkauth-verifyd/%.c $(wildcard zkauth-verifyd/*.h) include/zkauth_proto.h | libs
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

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libzkpam.a $(BUILD)/libzkd.a $(BUILD)/libzkcommon.a | test-libs
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Izkauth-verifyd -Ipam_zkauth $(D_CFLAGS) $(QR_CFLAGS) $(CPPFLAGS) $(CFLAGS) \
	  -o $@ $< $(BUILD)/libzkpam.a $(BUILD)/libzkd.a $(BUILD)/libzkcommon.a \
	  $(BASE_LDFLAGS) -Wl,--no-as-needed $(LDFLAGS) $(CMOCKA_LIBS) $(D_LIBS) $(QR_LIBS) $(PAM_LIBS) -ldl

# Test-only preloads (tests/preload/): faults the real system will not
# make on demand, for the end-to-end tests.
PRELOAD_SRC := $(wildcard tests/preload/*.c)
PRELOAD_SO  := $(PRELOAD_SRC:tests/preload/%.c=$(BUILD)/tests/%.so)
$(BUILD)/tests/%.so: tests/preload/%.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC $(BASE_CFLAGS) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BASE_LDFLAGS) $(LDFLAGS) -ldl

unit: all $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; ZK_SRCDIR=$(CURDIR) ZK_BUILD=$(CURDIR)/$(BUILD) $$t; done

e2e: all $(PRELOAD_SO)
	ZK_BUILD=$(CURDIR)/$(BUILD) SAN=$(SAN) node --test --test-concurrency=1 --test-timeout=300000 tests/e2e/ tests/emulators/

# The whole suite, then again under ASan/UBSan.
check: deps
	$(MAKE) unit e2e
	$(MAKE) SAN=1 unit e2e

DEPS ?= tests/deps.sh
deps:
	@$(DEPS)

demo: deps
	$(MAKE) all
	ZK_BUILD=$(CURDIR)/$(BUILD) INTERACTIVE=$(INTERACTIVE) node tests/e2e/demo.mjs

$(BUILD)/bench_verify: tests/bench/bench_verify.c $(BUILD)/libzkd.a $(BUILD)/libzkcommon.a
	$(CC) $(BASE_CFLAGS) -Izkauth-verifyd $(D_CFLAGS) $(CPPFLAGS) $(CFLAGS) -o $@ $< \
	  $(BUILD)/libzkd.a $(BUILD)/libzkcommon.a $(BASE_LDFLAGS) $(LDFLAGS) $(D_LIBS)

# Token verification throughput against raw OpenSSL, same run, one core.
bench: $(BUILD)/bench_verify
	taskset -c 0 $(BUILD)/bench_verify 2>/dev/null || $(BUILD)/bench_verify

# The unit's ExecStart names the daemon where SBINDIR puts it.
install: all
	install -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(MODULE) $(DESTDIR)$(PAMDIR)/pam_zkauth.so
	install -m 0755 $(DAEMON) $(DESTDIR)$(SBINDIR)/zkauth-verifyd
	install -m 0644 packaging/man/pam_zkauth.8 packaging/man/zkauth-verifyd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 packaging/man/zkauth.conf.5 $(DESTDIR)$(MANDIR)/man5/
	if [ -n "$(UNITDIR)" ]; then \
	  install -d $(DESTDIR)$(UNITDIR) && \
	  sed 's|/usr/sbin/zkauth-verifyd|$(SBINDIR)/zkauth-verifyd|' packaging/systemd/zkauth-verifyd.service \
	    >$(DESTDIR)$(UNITDIR)/zkauth-verifyd.service && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/zkauth-verifyd.service; fi
	if [ -n "$(SYSUSERSDIR)" ]; then \
	  install -d $(DESTDIR)$(SYSUSERSDIR) && \
	  install -m 0644 packaging/sysusers.d/zkauth.conf $(DESTDIR)$(SYSUSERSDIR)/zkauth.conf; fi

uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_zkauth.so $(DESTDIR)$(SBINDIR)/zkauth-verifyd
	rm -f $(DESTDIR)$(MANDIR)/man8/pam_zkauth.8 $(DESTDIR)$(MANDIR)/man8/zkauth-verifyd.8 \
	  $(DESTDIR)$(MANDIR)/man5/zkauth.conf.5
	if [ -n "$(UNITDIR)" ]; then rm -f $(DESTDIR)$(UNITDIR)/zkauth-verifyd.service; fi
	if [ -n "$(SYSUSERSDIR)" ]; then rm -f $(DESTDIR)$(SYSUSERSDIR)/zkauth.conf; fi

# The source tarball: the files git would commit (tracked, and untracked
# but not ignored) as they are in the working tree, so that `make deb` and
# `make rpm` build what is checked out. Reproducible: sorted names, owner
# root, the last commit's time.
DIST := zkauth-$(VERSION)
dist:
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "dist: needs a git checkout" >&2; exit 1; }
	set -e; list=$$(mktemp); trap 'rm -f "$$list"' EXIT; \
	git ls-files -z --cached --others --exclude-standard | \
	  xargs -0 sh -c 'for f; do if [ -e "$$f" ] || [ -L "$$f" ]; then printf "%s\0" "$$f"; fi; done' sh | LC_ALL=C sort -z >"$$list"; \
	tar --create --file=$(DIST)-tmp.tar.gz --use-compress-program='gzip -9n' --format=gnu \
	  --sort=name --owner=0 --group=0 --numeric-owner --mode=go-w --mtime=@$$(git log -1 --format=%ct) \
	  --transform='s,^,$(DIST)/,S' --no-recursion --null --files-from="$$list"
	tar -tzf $(DIST)-tmp.tar.gz $(DIST)/Makefile >/dev/null
	mv $(DIST)-tmp.tar.gz $(DIST).tar.gz

# Distribution packages, built from the dist tarball in build/deb and
# build/rpm; the checkout stays as it is. The make that runs them must not
# leak its command line (MAKEFLAGS) into the packages' own make.
DEBBUILD := build/deb
RPMBUILD := build/rpm
UNMAKE   := env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL
.PHONY: deb rpm

# libpam-zkauth and zkauth-verifyd .debs in build/deb (packaging/debian).
deb: dist
	@v=$$(dpkg-parsechangelog -l packaging/debian/changelog -S Version) && [ "$${v%-*}" = "$(VERSION)" ] || \
	  { echo "deb: packaging/debian/changelog is at $$v, the Makefile at $(VERSION)" >&2; exit 1; }
	rm -rf $(DEBBUILD)
	mkdir -p $(DEBBUILD)
	tar -xzf $(DIST).tar.gz -C $(DEBBUILD)
	cp -R $(DEBBUILD)/$(DIST)/packaging/debian $(DEBBUILD)/$(DIST)/debian
	cd $(DEBBUILD)/$(DIST) && $(UNMAKE) dpkg-buildpackage -us -uc -b -Jauto
	@ls -1 $(DEBBUILD)/*.deb

# pam_zkauth and zkauth-verifyd .rpms in build/rpm/RPMS (packaging/rpm).
# --nodeps: the BuildRequires name RPM packages, not Debian ones.
rpm: dist
	@v=$$(sed -n 's/^Version:[[:space:]]*//p' packaging/rpm/zkauth.spec) && [ "$$v" = "$(VERSION)" ] || \
	  { echo "rpm: packaging/rpm/zkauth.spec is at $$v, the Makefile at $(VERSION)" >&2; exit 1; }
	rm -rf $(RPMBUILD)
	mkdir -p $(RPMBUILD)/SOURCES
	cp $(DIST).tar.gz $(RPMBUILD)/SOURCES/
	cp packaging/sysusers.d/zkauth.conf $(RPMBUILD)/SOURCES/zkauth.sysusers
	$(UNMAKE) rpmbuild -bb --nodeps --define "_topdir $(CURDIR)/$(RPMBUILD)" packaging/rpm/zkauth.spec
	@find $(RPMBUILD)/RPMS -name '*.rpm' | sort

clean:
	rm -rf build build-san zkauth-*.tar.gz

# libFuzzer targets for every parser of untrusted bytes: make fuzz, make fuzz-run.
include tests/fuzz/fuzz.mk
