package train

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows a progress bar with ETA (schollz/progressbar) when its writer is a
// terminal, and otherwise logs a line every 30 seconds, so logs of batch jobs stay
// readable.
type progress struct {
	bar     *progressbar.ProgressBar
	log     *slog.Logger
	what    string
	total   int
	done    int
	start   time.Time
	lastLog time.Time
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress starts a progress display for total items.
func newProgress(w io.Writer, total int, what string, log *slog.Logger) *progress {
	p := &progress{log: log, what: what, total: total, start: time.Now(), lastLog: time.Now()}
	if w != nil && isTerminal(w) {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *progress) add(n int) {
	p.done += n
	if p.bar != nil {
		_ = p.bar.Add(n)
		return
	}
	if p.log != nil && (time.Since(p.lastLog) > 30*time.Second || p.done == p.total) {
		el := time.Since(p.start)
		eta := time.Duration(float64(el) / float64(max(1, p.done)) * float64(p.total-p.done))
		p.log.Info(p.what, "done", p.done, "total", p.total, "elapsed", el.Round(time.Second), "eta", eta.Round(time.Second))
		p.lastLog = time.Now()
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
