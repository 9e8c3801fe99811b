package train

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WritePlots draws PNG plots into dir (gonum/plot): loss curves and validation mAP
// per epoch (when history is given), per-class AP bars, and precision-recall curves
// of the most frequent classes. It returns the files written.
func WritePlots(dir string, r *Report, history []EpochStats, probs, y []float32) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	save := func(p *plot.Plot, name string, w, h vg.Length) error {
		path := filepath.Join(dir, name)
		if err := p.Save(w, h, path); err != nil {
			return fmt.Errorf("train: plot %s: %w", name, err)
		}
		files = append(files, path)
		return nil
	}
	if len(history) > 0 {
		p := plot.New()
		p.Title.Text = "Training history"
		p.X.Label.Text = "epoch"
		var tl, vl, vm plotter.XYs
		for _, h := range history {
			tl = append(tl, plotter.XY{X: float64(h.Epoch), Y: h.TrainLoss})
			if !math.IsNaN(h.ValLoss) {
				vl = append(vl, plotter.XY{X: float64(h.Epoch), Y: h.ValLoss})
				vm = append(vm, plotter.XY{X: float64(h.Epoch), Y: h.ValMAP})
			}
		}
		args := []any{"train loss", tl}
		if len(vl) > 0 {
			args = append(args, "val loss", vl, "val mAP", vm)
		}
		if err := plotutil.AddLinePoints(p, args...); err != nil {
			return nil, err
		}
		if err := save(p, "loss.png", 16*vg.Centimeter, 10*vg.Centimeter); err != nil {
			return nil, err
		}
	}
	// per-class AP, classes with positives, sorted
	var cls []ClassReport
	for _, c := range r.PerClass {
		if c.Positives > 0 {
			cls = append(cls, c)
		}
	}
	sort.SliceStable(cls, func(i, j int) bool { return cls[i].AP > cls[j].AP })
	if len(cls) > 0 {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("Per-class AP (mAP %.1f over %d classes)", 100*r.MAP, r.APClasses)
		p.Y.Label.Text = "AP"
		vals := make(plotter.Values, len(cls))
		names := make([]string, len(cls))
		for i, c := range cls {
			vals[i], names[i] = c.AP, c.Class
		}
		bars, err := plotter.NewBarChart(vals, vg.Points(6))
		if err != nil {
			return nil, err
		}
		p.Add(bars)
		p.NominalX(names...)
		p.X.Tick.Label.Rotation = math.Pi / 2
		p.X.Tick.Label.XAlign = -1 // text.XLeft after rotation reads upwards
		p.X.Tick.Label.YAlign = -0.5
		p.Y.Min, p.Y.Max = 0, 1
		if err := save(p, "ap.png", vg.Length(len(cls))*8+2*vg.Centimeter, 12*vg.Centimeter); err != nil {
			return nil, err
		}
	}
	// PR curves of the 8 most frequent classes
	if len(probs) > 0 && len(probs) == len(y) {
		byPos := append([]ClassReport(nil), cls...)
		sort.SliceStable(byPos, func(i, j int) bool { return byPos[i].Positives > byPos[j].Positives })
		if len(byPos) > 8 {
			byPos = byPos[:8]
		}
		p := plot.New()
		p.Title.Text = "Precision-recall, most frequent classes"
		p.X.Label.Text, p.Y.Label.Text = "recall", "precision"
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1.02
		c := r.Classes
		n := len(probs) / c
		var args []any
		for _, cr := range byPos {
			k := indexOf(r, cr.Class)
			col, lab := make([]float32, n), make([]float32, n)
			for i := 0; i < n; i++ {
				col[i], lab[i] = probs[i*c+k], y[i*c+k]
			}
			var xy plotter.XYs
			for _, pt := range PRCurve(col, lab) {
				xy = append(xy, plotter.XY{X: pt.Recall, Y: pt.Precision})
			}
			args = append(args, fmt.Sprintf("%s (AP %.0f)", cr.Class, 100*cr.AP), xy)
		}
		if err := plotutil.AddLines(p, args...); err != nil {
			return nil, err
		}
		p.Legend.Left, p.Legend.Top = true, false
		if err := save(p, "pr.png", 16*vg.Centimeter, 12*vg.Centimeter); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func indexOf(r *Report, class string) int {
	for i, c := range r.PerClass {
		if c.Class == class {
			return i
		}
	}
	return -1
}
