// Package gateway lets a keyhold node serve a token of a local PKCS#11
// module (a real HSM that only its vendor's library reaches) as one of its
// partitions: a program opts in with a blank import,
//
//	import _ "github.com/keyhold/keyhold/server/gateway"
//
// after which server.PartitionOptions.Module (keyhold serve --partition
// NAME=module:PATH,token=LABEL) opens the token. The token is reached
// through the SDK's module backend (hsm/pkcs11module), the same code a Go
// program uses for a local module: one C_Initialize per module and process,
// a session pool sized from the token's limits, stable handles derived from
// each object's identity (so that two gateways in front of two HSMs holding
// the same keys give a key the same handle, and so does a gateway started
// again), device errors healed by re-opening the token.
//
// The node logs the token in with the partition's PIN when it starts, and
// again whenever the token lost its login (the HSM restarted); a client's
// login is checked against the token, and its requests act as the User on
// the token only with a valid ticket of the node.
//
// Loading a module needs cgo: built without it, the package compiles, and a
// module partition fails to open with pkcs11module.ErrNeedsCgo.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/keyhold/keyhold/ck"
	"github.com/keyhold/keyhold/hsm"
	"github.com/keyhold/keyhold/hsm/pkcs11module"
	"github.com/keyhold/keyhold/internal/wire"
	"github.com/keyhold/keyhold/server"
)

func init() { server.RegisterModuleOpener(Open) }

// sessionCounter is what the module backend reports of its session pool.
type sessionCounter interface{ Sessions() int }

// Open opens the token o names, logs it in with o.PIN and returns it as the
// node's module partition named partition. It is the opener package server
// uses once this package is imported.
func Open(ctx context.Context, partition string, o server.ModuleOptions) (server.Module, error) {
	if o.Path == "" || o.Token == "" {
		return nil, errors.New("gateway: a module partition needs a module path and a token label")
	}
	b, err := pkcs11module.Open(ctx, hsm.NodeConfig{Module: o.Path, Token: o.Token}, hsm.PartitionConfig{Name: partition})
	if err != nil {
		return nil, err
	}
	m := &module{b: b, pin: []byte(o.PIN)}
	if err := m.login(ctx, nil); err != nil {
		b.Close()
		return nil, fmt.Errorf("gateway: logging in to token %s of %s with the partition's PIN: %w", o.Token, o.Path, err)
	}
	return m, nil
}

// module is a server.Module over the SDK's module backend.
type module struct {
	b   hsm.Backend
	pin []byte // the token's User PIN, with which the node logs it in

	// ticket is the backend's proof of the node's login, read by every
	// request; mu serialises logging in again.
	mu     sync.Mutex
	ticket atomic.Pointer[hsm.Ticket]
}

var _ server.Module = (*module)(nil)

// login logs the token in with the node's PIN, unless another call already
// did since the caller's proof old failed.
func (m *module) login(ctx context.Context, old hsm.Ticket) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.ticket.Load(); cur != nil && string(*cur) != string(old) {
		return nil
	}
	res, err := m.b.Login(ctx, hsm.Request{}, ck.CKU_USER, m.pin)
	if err != nil {
		return err
	}
	m.ticket.Store(&res.Ticket)
	return nil
}

func (m *module) request(login bool) hsm.Request {
	if !login {
		return hsm.Request{}
	}
	return hsm.Request{Ticket: *m.ticket.Load()}
}

// call runs f with the node's login proof when login is set. A token that
// lost its login (the HSM restarted, its sessions broke) is logged in again
// with the node's PIN and f repeated once; errors become what the node
// answers its client.
func call[T any](ctx context.Context, m *module, login bool, f func(r hsm.Request) (T, error)) (T, error) {
	r := m.request(login)
	out, err := f(r)
	if login && errors.Is(err, hsm.ErrLoginExpired) {
		if err = m.login(ctx, r.Ticket); err == nil {
			out, err = f(m.request(login))
		}
	}
	if err != nil {
		var zero T
		return zero, answer(err)
	}
	return out, nil
}

// errModuleFailed answers a request whose module call failed at the device
// level: the next call re-opens the token, and the client's engine tries
// another node meanwhile.
var errModuleFailed = &ck.Error{RV: wire.CodeBusy, Msg: "the PKCS#11 module behind this node failed; it is being re-opened: try another node"}

// answer turns the backend's error into the node's answer: a refusal keeps
// its PKCS#11 code; a device failure, a module that is busy or a login the
// node could not renew are busy answers, after which the client's engine
// tries another node.
func answer(err error) error {
	var ce *ck.Error
	var nf *hsm.NodeFailure
	switch {
	case errors.As(err, &nf), errors.Is(err, hsm.ErrLoginExpired):
		return errModuleFailed
	case errors.Is(err, hsm.ErrBusy):
		return &ck.Error{RV: wire.CodeBusy, Msg: "the PKCS#11 module is busy"}
	case errors.As(err, &ce):
		return ce
	}
	return err
}

func (m *module) Sessions() int {
	if s, ok := m.b.(sessionCounter); ok {
		return s.Sessions()
	}
	return 1
}

func (m *module) Close() error { return m.b.Close() }

func (m *module) Info(ctx context.Context) (wire.PartitionInfoReply, error) {
	info, err := call(ctx, m, false, func(r hsm.Request) (hsm.PartitionInfo, error) { return m.b.Info(ctx, r) })
	return wire.PartitionInfoReply{
		Flags:        info.Flags,
		MinPINLen:    info.MinPINLen,
		MaxPINLen:    info.MaxPINLen,
		Manufacturer: info.Manufacturer,
		Model:        info.Model,
		Serial:       info.Serial,
		Objects:      info.Objects,
		MinRSABits:   info.MinRSABits,
	}, err
}

// CheckPIN checks a client's PIN with C_Login through the backend: on the
// token the node keeps logged in, the backend compares a User PIN with the
// PIN the token was logged in with; on a token that lost its login, the
// module checks it (and counts it). An SO PIN is always the module's to
// check: pkcs11module.CheckSO logs the User out for it, and in again.
func (m *module) CheckPIN(ctx context.Context, user ck.UserType, pin []byte) error {
	if user == ck.CKU_SO {
		_, err := call(ctx, m, false, func(hsm.Request) (struct{}, error) { return noValue(pkcs11module.CheckSO(ctx, m.b, pin)) })
		return err
	}
	_, err := call(ctx, m, false, func(r hsm.Request) (hsm.LoginResult, error) { return m.b.Login(ctx, r, user, pin) })
	return err
}

func (m *module) FindObjects(ctx context.Context, login bool, tmpl ck.Template, want []ck.AttributeType) ([]wire.FoundObject, error) {
	objs, err := call(ctx, m, login, func(r hsm.Request) ([]hsm.Object, error) { return m.b.FindObjects(ctx, r, tmpl, want) })
	out := make([]wire.FoundObject, len(objs))
	for i, o := range objs {
		out[i] = wire.FoundObject{Handle: o.Handle, Attributes: o.Attributes}
	}
	return out, err
}

func (m *module) GetAttributes(ctx context.Context, login bool, h uint64, types []ck.AttributeType) ([]wire.AttributeResult, error) {
	vals, err := call(ctx, m, login, func(r hsm.Request) ([]hsm.AttributeResult, error) { return m.b.GetAttributes(ctx, r, h, types) })
	out := make([]wire.AttributeResult, len(vals))
	for i, v := range vals {
		out[i] = wire.AttributeResult{Type: v.Type, Value: v.Value, RV: v.RV}
	}
	return out, err
}

// noValue adapts a backend call without a result to call.
func noValue(err error) (struct{}, error) { return struct{}{}, err }

func (m *module) SetAttributes(ctx context.Context, login bool, h uint64, tmpl ck.Template) error {
	_, err := call(ctx, m, login, func(r hsm.Request) (struct{}, error) { return noValue(m.b.SetAttributes(ctx, r, h, tmpl)) })
	return err
}

func (m *module) CreateObject(ctx context.Context, login bool, tmpl ck.Template) (uint64, error) {
	return call(ctx, m, login, func(r hsm.Request) (uint64, error) { return m.b.CreateObject(ctx, r, tmpl) })
}

func (m *module) CopyObject(ctx context.Context, login bool, h uint64, tmpl ck.Template) (uint64, error) {
	return call(ctx, m, login, func(r hsm.Request) (uint64, error) { return m.b.CopyObject(ctx, r, h, tmpl) })
}

func (m *module) DestroyObject(ctx context.Context, login bool, h uint64) error {
	_, err := call(ctx, m, login, func(r hsm.Request) (struct{}, error) { return noValue(m.b.DestroyObject(ctx, r, h)) })
	return err
}

func (m *module) ObjectSize(ctx context.Context, login bool, h uint64) (uint64, error) {
	return call(ctx, m, login, func(r hsm.Request) (uint64, error) { return m.b.ObjectSize(ctx, r, h) })
}

func (m *module) GenerateKeyPair(ctx context.Context, login bool, mech ck.Mechanism, pub, priv ck.Template) (uint64, uint64, error) {
	hs, err := call(ctx, m, login, func(r hsm.Request) ([2]uint64, error) {
		p, s, err := m.b.GenerateKeyPair(ctx, r, mech, pub, priv)
		return [2]uint64{p, s}, err
	})
	return hs[0], hs[1], err
}

func (m *module) GenerateKey(ctx context.Context, login bool, mech ck.Mechanism, tmpl ck.Template) (uint64, error) {
	return call(ctx, m, login, func(r hsm.Request) (uint64, error) { return m.b.GenerateKey(ctx, r, mech, tmpl) })
}

func (m *module) Sign(ctx context.Context, login bool, h uint64, mech ck.Mechanism, data []byte) ([]byte, error) {
	return call(ctx, m, login, func(r hsm.Request) ([]byte, error) { return m.b.Sign(ctx, r, h, mech, data) })
}

func (m *module) Verify(ctx context.Context, login bool, h uint64, mech ck.Mechanism, data, sig []byte) error {
	_, err := call(ctx, m, login, func(r hsm.Request) (struct{}, error) { return noValue(m.b.Verify(ctx, r, h, mech, data, sig)) })
	return err
}

func (m *module) Encrypt(ctx context.Context, login bool, h uint64, mech ck.Mechanism, data []byte) ([]byte, error) {
	return call(ctx, m, login, func(r hsm.Request) ([]byte, error) { return m.b.Encrypt(ctx, r, h, mech, data) })
}

func (m *module) Decrypt(ctx context.Context, login bool, h uint64, mech ck.Mechanism, data []byte) ([]byte, error) {
	return call(ctx, m, login, func(r hsm.Request) ([]byte, error) { return m.b.Decrypt(ctx, r, h, mech, data) })
}

func (m *module) Agree(ctx context.Context, login bool, h uint64, mech ck.Mechanism) ([]byte, error) {
	return call(ctx, m, login, func(r hsm.Request) ([]byte, error) { return m.b.Agree(ctx, r, h, mech) })
}

func (m *module) WrapKey(ctx context.Context, login bool, w uint64, mech ck.Mechanism, h uint64) ([]byte, error) {
	return call(ctx, m, login, func(r hsm.Request) ([]byte, error) { return m.b.WrapKey(ctx, r, w, mech, h) })
}

func (m *module) UnwrapKey(ctx context.Context, login bool, u uint64, mech ck.Mechanism, wrapped []byte, tmpl ck.Template) (uint64, error) {
	return call(ctx, m, login, func(r hsm.Request) (uint64, error) { return m.b.UnwrapKey(ctx, r, u, mech, wrapped, tmpl) })
}

func (m *module) DeriveKey(ctx context.Context, login bool, base uint64, mech ck.Mechanism, tmpl ck.Template) (uint64, error) {
	return call(ctx, m, login, func(r hsm.Request) (uint64, error) { return m.b.DeriveKey(ctx, r, base, mech, tmpl) })
}

func (m *module) GenerateRandom(ctx context.Context, n int) ([]byte, error) {
	return call(ctx, m, false, func(r hsm.Request) ([]byte, error) { return m.b.GenerateRandom(ctx, r, n) })
}
