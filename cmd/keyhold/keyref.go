package main

import (
	"context"
	"errors"
	"strings"

	"github.com/keyhold/keyhold/hsm"
)

// parseKeyRef reads a key name given on the command line: an RFC 7512 URI
// ("pkcs11:token=payments;object=tls-key") or the short form
// "PARTITION/LABEL". Both become a URI, so that everything after this point
// handles one form. Only the first "/" separates: partition names have none,
// labels may.
func parseKeyRef(s string) (*hsm.URI, error) {
	if s == "" {
		return nil, usagef("no key given: use --key pkcs11:token=PARTITION;object=LABEL or --key PARTITION/LABEL")
	}
	if len(s) >= 7 && strings.EqualFold(s[:7], "pkcs11:") {
		u, err := hsm.ParseURI(s)
		if err != nil {
			return nil, err // wraps hsm.ErrInvalidURI and says what is wrong
		}
		if u.Object == "" && len(u.ID) == 0 {
			return nil, usagef("key %s names no key: give object= (the label) or id=", u)
		}
		switch u.Type {
		case "", "private", "public", "secret-key":
		default:
			return nil, usagef("key %s: type=%s is not a key (want private, public or secret-key)", u, u.Type)
		}
		return u, nil
	}
	// The short form, read as tlsconfig reads it.
	u, err := hsm.ParseKeyName(s)
	if err != nil {
		return nil, usagef("key %q: want a pkcs11: URI or PARTITION/LABEL", s)
	}
	return u, nil
}

// partitionFor returns the partition a key name selects: by token (the
// partition name) or slot-id; a URI may leave both out when only one
// partition is configured.
func partitionFor(client *hsm.Client, u *hsm.URI) (*hsm.Partition, error) {
	switch {
	case u.Token != "":
		p, err := client.Partition(u.Token)
		if err != nil {
			return nil, err
		}
		if u.SlotID != nil && uint64(p.ID()) != *u.SlotID {
			return nil, usagef("key %s: token %q is partition %d, not slot-id %d", u, u.Token, p.ID(), *u.SlotID)
		}
		return p, nil
	case u.SlotID != nil:
		if *u.SlotID > 1<<32-1 {
			return nil, usagef("key %s: slot-id out of range", u)
		}
		return client.PartitionByID(uint32(*u.SlotID))
	}
	parts := client.Partitions()
	if len(parts) == 1 {
		return parts[0], nil
	}
	return nil, usagef("key %s names no partition (token=) and %d partitions are configured", u, len(parts))
}

// findKey returns the key u names in p. When u has no type, the classes
// are tried in order: a command that only needs a public key looks for the
// public key object first, which needs no login.
func findKey(ctx context.Context, p *hsm.Partition, u *hsm.URI, classes ...string) (*hsm.Key, error) {
	if u.Type != "" {
		classes = []string{u.Type}
	}
	var err error
	for _, class := range classes {
		var k *hsm.Key
		k, err = p.FindKey(ctx, hsm.KeyQuery{Label: u.Object, ID: u.ID, Class: class})
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, hsm.ErrNotFound) && !errors.Is(err, hsm.ErrNotLoggedIn) {
			return nil, err
		}
	}
	return nil, err
}

// keyURI returns the canonical URI of a key, for output that scripts feed
// back to keyhold or to other PKCS#11 tools.
func keyURI(p *hsm.Partition, k *hsm.Key, class string) string {
	u := hsm.URI{Token: p.Name(), Object: k.Label(), ID: k.ID(), Type: class}
	return u.String()
}

// findPublic returns the key u names for a command that needs only its
// public half (keys public, cert export, verify): the public key object,
// which needs no PIN, even when u says type=private; else, for keys stored
// without one, the private (or secret) key, visible only after login.
func (c *cmdline) findPublic(ctx context.Context, p *hsm.Partition, u *hsm.URI) (*hsm.Key, error) {
	if u.Type == "" || u.Type == "private" {
		k, err := p.FindKey(ctx, hsm.KeyQuery{Label: u.Object, ID: u.ID, Class: "public"})
		if !errors.Is(err, hsm.ErrNotFound) {
			return k, err
		}
	}
	if u.Type == "public" {
		return findKey(ctx, p, u)
	}
	if err := c.login(ctx, p); err != nil {
		return nil, err
	}
	return findKey(ctx, p, u, "private", "secret-key")
}
