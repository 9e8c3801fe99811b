package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/autotag/autotag/internal/atomicfile"
)

// refuseExisting keeps a command from replacing a file the user already has: an
// --out or --json path that exists (as a file, a folder or a link of any kind) is
// an error unless the command's --force says otherwise; even with force, a link or
// another non-regular file is refused, as atomicfile.Write would refuse it. Checked
// before the work starts, so a long run never ends by discarding an earlier result.
func refuseExisting(path, flag string, force bool) error {
	if force {
		if err := atomicfile.Check(path); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
		return nil
	}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s %s: %w", flag, path, err)
	case st.IsDir():
		return fmt.Errorf("%s %s is a folder; name a file", flag, path)
	}
	return fmt.Errorf("%s %s already exists; use --force to replace it", flag, path)
}

// refuseExistingFiles is refuseExisting for the several files one command writes
// (where says which flag chose them): every path is checked, and one error lists
// all that exist, so nothing is written unless all of them may be; force lets
// regular files be replaced, never links.
func refuseExistingFiles(paths []string, where string, force bool) error {
	if force {
		for _, p := range paths {
			if err := atomicfile.Check(p); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
		return nil
	}
	var existing []string
	for _, p := range paths {
		st, err := os.Lstat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return fmt.Errorf("%s: %w", where, err)
		case st.IsDir():
			return fmt.Errorf("%s: %s is a folder", where, p)
		}
		existing = append(existing, p)
	}
	switch len(existing) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s: %s already exists; use --force to replace it, or choose another folder", where, existing[0])
	}
	return fmt.Errorf("%s: %s already exist; use --force to replace them, or choose another folder", where, strings.Join(existing, ", "))
}
