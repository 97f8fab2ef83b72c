// Package libnbd stands in for libguestfs.org/libnbd, the cgo binding of libnbd that
// CDI's importer uses only for its VMware VDDK source and KubeVirt's virt-launcher only
// for its backup's NBD client (changed-block maps of VirtualMachineBackup). The module is
// not on the Go module proxy and needs a C library, so the test bed builds both against
// this pure-Go stub: it declares exactly the names they compile against and fails at run
// time. The bed never imports from VDDK and runs no VirtualMachineBackup.
package libnbd

import "errors"

// Flag values as libnbd defines them.
const (
	CMD_FLAG_REQ_ONE = 0x08
	STATE_HOLE       = 1
	STATE_ZERO       = 2
	STATE_DIRTY      = 1

	CONTEXT_BASE_ALLOCATION   = "base:allocation"
	CONTEXT_QEMU_DIRTY_BITMAP = "qemu:dirty-bitmap:"
)

type LibnbdError struct{ Op, Errmsg string }

func (e *LibnbdError) Error() string { return e.Op + ": " + e.Errmsg }

type ExtentCallback func(metacontext string, offset uint64, entries []uint32, err *int) int

type LibnbdExtent struct {
	Length uint64
	Flags  uint64
}

type ExtentCallback64 func(metacontext string, offset uint64, entries []LibnbdExtent, err *int) int

type BlockStatus64Optargs struct {
	FlagsSet bool
	Flags    uint32
}

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
func (*Libnbd) CanMetaContext(string) (bool, error)                                   { return false, errStub }
func (*Libnbd) SetExportName(string) error                                            { return errStub }
func (*Libnbd) ConnectUnix(string) error                                              { return errStub }
func (*Libnbd) BlockStatus64(uint64, uint64, ExtentCallback64, *BlockStatus64Optargs) error {
	return errStub
}
