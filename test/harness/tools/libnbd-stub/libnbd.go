// Package libnbd stands in for libguestfs.org/libnbd, the cgo binding of libnbd that
// CDI's importer uses only for its VMware VDDK source. The module is not on the Go module
// proxy and needs a C library, so the test bed builds cdi-importer against this pure-Go
// stub: it declares exactly the names the importer compiles against and fails at run
// time. The bed never imports from VDDK.
package libnbd

import "errors"

// Flag values as libnbd defines them.
const (
	CMD_FLAG_REQ_ONE = 0x08
	STATE_HOLE       = 1
	STATE_ZERO       = 2
)

type LibnbdError struct{ Op, Errmsg string }

func (e *LibnbdError) Error() string { return e.Op + ": " + e.Errmsg }

type ExtentCallback func(metacontext string, offset uint64, entries []uint32, err *int) int

type PreadOptargs struct{}

type BlockStatusOptargs struct {
	FlagsSet bool
	Flags    uint32
}

// Libnbd is a handle; Create never returns one.
type Libnbd struct{}

var errStub = errors.New("libnbd is a stub in this build (no VDDK import)")

func Create() (*Libnbd, error) { return nil, errStub }

func (*Libnbd) AddMetaContext(string) error                                           { return errStub }
func (*Libnbd) ConnectUri(string) error                                               { return errStub }
func (*Libnbd) GetSize() (uint64, error)                                              { return 0, errStub }
func (*Libnbd) Pread([]byte, uint64, *PreadOptargs) error                             { return errStub }
func (*Libnbd) BlockStatus(uint64, uint64, ExtentCallback, *BlockStatusOptargs) error { return errStub }
func (*Libnbd) Close() *LibnbdError                                                   { return nil }
