package train

import (
	"io"
	"log/slog"
	"math"
)

// LogHook logs one line per epoch: losses, validation mAP, learning rate, and
// whether it is the best epoch so far.
func LogHook(log *slog.Logger) Hook {
	return Hook{Name: "log", OnEpochEnd: func(l *Loop, s *State) error {
		h := s.History[len(s.History)-1]
		attrs := []any{"epoch", h.Epoch, "train_loss", round4(h.TrainLoss), "lr", h.LR}
		if !math.IsNaN(h.ValMAP) {
			attrs = append(attrs, "val_loss", round4(h.ValLoss), "val_mAP", round4(h.ValMAP), "best_epoch", s.BestEpoch)
		}
		if s.Done && s.Epoch < l.Config.Epochs {
			attrs = append(attrs, "stopped", "early")
		}
		log.Info("epoch", attrs...)
		return nil
	}}
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// ProgressHook shows a progress bar over all training steps (terminal only; the log
// hook covers other outputs).
func ProgressHook(w io.Writer, l *Loop, log *slog.Logger) Hook {
	var p *progress
	return Hook{Name: "progress",
		OnStep: func(l *Loop, s *State) error {
			if p == nil {
				total := l.StepsPerEpoch() * l.Config.Epochs
				p = newProgress(w, total, "training", nil)
				p.add(s.Step - 1)
			}
			p.add(1)
			return nil
		},
		OnEnd: func(*Loop, *State) error {
			if p != nil {
				p.finish()
			}
			return nil
		},
	}
}
