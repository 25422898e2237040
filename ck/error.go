package ck

// Error is a PKCS#11 failure: a return code and a message for people. The
// software HSM returns it, the wire protocol carries it, and the engine turns
// it into one of its typed errors. Messages never carry PINs, secrets or key
// bytes.
type Error struct {
	RV  ReturnValue
	Msg string
}

// Errorf returns an *Error with code rv and a formatted message.
func Errorf(rv ReturnValue, format string, args ...any) *Error {
	return &Error{RV: rv, Msg: sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return e.RV.String()
	}
	return e.RV.String() + ": " + e.Msg
}
