//go:build !unix

package cmd

// fileOwner is unused where files have no uid and gid.
type fileOwner struct{}

// ownerFor: files on this system carry no owner to keep.
func ownerFor(string) (fileOwner, bool) { return fileOwner{}, false }

// giveTo does nothing here.
func giveTo(string, fileOwner) error { return nil }
