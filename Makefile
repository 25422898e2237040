# Builds and installs keyhold, ppin and libkeyhold.so, with a p11-kit module
# file that registers the library under the name "keyhold" and a systemd
# unit for `keyhold serve`. docs/install.md explains each file.
#
#   make                                  build into $(BUILDDIR)
#   sudo make install                     install under /usr/local
#   make install DESTDIR=/tmp/stage PREFIX=/usr    stage for a package
#   make install PREFIX=$$HOME/.local P11KIT_MODULE_DIR=$$HOME/.config/pkcs11/modules
#                                         install for one user, without root
#   make uninstall                        remove what install installed
#
# Paths written into the installed files (the module file's library path,
# the unit's command) are the final ones, without DESTDIR.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
# p11-kit reads module files from /etc/pkcs11/modules (the administrator's),
# /usr/share/p11-kit/modules (packages') and, for programs not run as root,
# ~/.config/pkcs11/modules.
P11KIT_MODULE_DIR ?= /etc/pkcs11/modules
# systemd reads units from /usr/local/lib/systemd/system as well as from
# /usr/lib/systemd/system and /etc/systemd/system.
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=
BUILDDIR ?= build
GO ?= go

INSTALL ?= install

.PHONY: all build install uninstall clean

all: build

# go decides what to rebuild: these targets always run, and cost a cache
# lookup when nothing changed.
build:
	$(GO) build -o $(BUILDDIR)/keyhold ./cmd/keyhold
	$(GO) build -o $(BUILDDIR)/ppin ./cmd/ppin
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(BUILDDIR)/libkeyhold.so ./provider/capi
	sed -e 's|@LIBDIR@|$(LIBDIR)|g' dist/keyhold.module.in >$(BUILDDIR)/keyhold.module
	sed -e 's|@BINDIR@|$(BINDIR)|g' dist/keyhold.service.in >$(BUILDDIR)/keyhold.service

install: build
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(P11KIT_MODULE_DIR) $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	$(INSTALL) -m 0755 $(BUILDDIR)/keyhold $(BUILDDIR)/ppin $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0755 $(BUILDDIR)/libkeyhold.so $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 0644 $(BUILDDIR)/keyhold.module $(DESTDIR)$(P11KIT_MODULE_DIR)/
	$(INSTALL) -m 0644 $(BUILDDIR)/keyhold.service $(DESTDIR)$(SYSTEMD_UNIT_DIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/keyhold $(DESTDIR)$(BINDIR)/ppin $(DESTDIR)$(LIBDIR)/libkeyhold.so \
		$(DESTDIR)$(P11KIT_MODULE_DIR)/keyhold.module $(DESTDIR)$(SYSTEMD_UNIT_DIR)/keyhold.service

clean:
	rm -rf $(BUILDDIR)
