package weights

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// scanPickle walks the opcodes of one pickle at the start of b (up to its STOP) and
// checks that every length-prefixed argument fits in the bytes that remain.
// gopickle allocates a buffer of the declared length before reading it, so a
// hostile length (say 2^46) would crash the process; scanning first turns that
// into an error. Opcode table: CPython Lib/pickletools.py.
func scanPickle(b []byte) error {
	_, err := pickleLen(b)
	return err
}

// pickleLen is scanPickle that also returns the pickle's length, STOP included.
func pickleLen(b []byte) (int, error) {
	i := 0
	need := func(n uint64) error {
		if n > uint64(len(b)-i) {
			return fmt.Errorf("pickle: argument of %d bytes at offset %d overruns the data (%d bytes left)", n, i, len(b)-i)
		}
		i += int(n)
		return nil
	}
	line := func() error {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return fmt.Errorf("pickle: unterminated line argument at offset %d", i)
		}
		i += j + 1
		return nil
	}
	lenArg := func(width int) (uint64, error) {
		if err := need(uint64(width)); err != nil {
			return 0, err
		}
		a := b[i-width : i]
		switch width {
		case 1:
			return uint64(a[0]), nil
		case 4:
			return uint64(binary.LittleEndian.Uint32(a)), nil
		default:
			return binary.LittleEndian.Uint64(a), nil
		}
	}
	for i < len(b) {
		op := b[i]
		i++
		var err error
		switch op {
		case '.': // STOP
			return i, nil
		// No argument.
		case '(', ')', ']', '}', 'N', '0', '1', '2', 'a', 'b', 'e', 'l', 'd', 's', 't', 'u', 'o', 'R', 'Q',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98:
		// Fixed-size arguments.
		case 'K', 'q', 'h', 0x80, 0x82: // BININT1, BINPUT, BINGET, PROTO, EXT1
			err = need(1)
		case 'M', 0x83: // BININT2, EXT2
			err = need(2)
		case 'J', 'r', 'j', 0x84: // BININT, LONG_BINPUT, LONG_BINGET, EXT4
			err = need(4)
		case 'G': // BINFLOAT
			err = need(8)
		// Newline-terminated arguments.
		case 'I', 'L', 'F', 'S', 'V', 'P', 'g', 'p':
			err = line()
		case 'c', 'i': // GLOBAL, INST: module and name lines
			if err = line(); err == nil {
				err = line()
			}
		// Length-prefixed arguments.
		case 'U', 'C', 0x8c, 0x8a: // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE, LONG1
			var n uint64
			if n, err = lenArg(1); err == nil {
				err = need(n)
			}
		case 'T', 'B', 'X', 0x8b: // BINSTRING, BINBYTES, BINUNICODE, LONG4
			var n uint64
			if n, err = lenArg(4); err == nil {
				err = need(n)
			}
		case 0x8e, 0x8d, 0x96: // BINBYTES8, BINUNICODE8, BYTEARRAY8
			var n uint64
			if n, err = lenArg(8); err == nil {
				err = need(n)
			}
		case 0x95: // FRAME: the framed opcodes follow inline
			var n uint64
			if n, err = lenArg(8); err == nil && n > uint64(len(b)-i) {
				err = fmt.Errorf("pickle: frame of %d bytes overruns the data", n)
			}
		default:
			err = fmt.Errorf("pickle: unknown opcode 0x%02x at offset %d", op, i-1)
		}
		if err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("pickle: no STOP opcode")
}
