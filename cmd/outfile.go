package cmd

import (
	"errors"
	"fmt"
	"os"
)

// refuseExisting keeps a command from replacing a file the user already has: an
// --out or --json path that exists (as a file, a folder or a link of any kind) is
// an error unless the command's --force says otherwise. Checked before the work
// starts, so a long run never ends by discarding an earlier result.
func refuseExisting(path, flag string) error {
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
