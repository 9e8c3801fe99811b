package train

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// resumeProblem is the run the kill -9 test interrupts: big enough to take a
// second or so with a checkpoint every 3 steps.
func resumeProblem() (Config, *Features, *Features) {
	cfg := DefaultConfig()
	cfg.Head, _ = ParseHead("mlp:32")
	cfg.Epochs, cfg.Batch, cfg.LR, cfg.Patience = 6, 32, 3e-3, 3
	return cfg, synthFeatures(5, 1500, 2, 128, 10), synthFeatures(6, 200, 1, 128, 10)
}

// runResumable trains resumeProblem, resuming from dir's latest checkpoint.
func runResumable(t testing.TB, dir string) *State {
	cfg, tr, va := resumeProblem()
	l, err := NewLoop(cfg, tr, va)
	if err != nil {
		t.Fatal(err)
	}
	c := &Checkpointer{Dir: dir, Keep: 3, Fingerprint: Fingerprint(cfg, tr, va, "synthetic")}
	s, _, err := c.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if s != nil {
		if err := l.SetState(s); err != nil {
			t.Fatal(err)
		}
	}
	l.Hooks = append(l.Hooks, CheckpointHook(c, 3))
	s, err = l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCheckpointChild is the child process of TestKillAndResume; it does nothing
// unless AUTOTAG_TRAIN_CHILD_DIR is set.
func TestCheckpointChild(t *testing.T) {
	dir := os.Getenv("AUTOTAG_TRAIN_CHILD_DIR")
	if dir == "" {
		t.Skip("child process of TestKillAndResume")
	}
	runResumable(t, dir)
}

func sameHead(a, b *Head) bool {
	for i := range a.W {
		if !slices.Equal(a.W[i], b.W[i]) || !slices.Equal(a.B[i], b.B[i]) {
			return false
		}
	}
	return len(a.W) == len(b.W)
}

// TestKillAndResume kills a training process with SIGKILL at random moments,
// resumes it from its last complete checkpoint until it finishes, and requires the
// final and best weights to be bit-identical to an uninterrupted run's.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	start := time.Now()
	ref := runResumable(t, t.TempDir())
	took := time.Since(start)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for attempt := 0; attempt < 20; attempt++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCheckpointChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AUTOTAG_TRAIN_CHILD_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if kills < 3 {
			// process start-up plus a random part of the training time
			delay := 50*time.Millisecond + time.Duration(rng.Int64N(int64(took)/2+1))
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("child failed: %v", err)
				}
			case <-time.After(delay):
				_ = cmd.Process.Kill() // SIGKILL
				<-done
				kills++
				t.Logf("killed the child after %v", delay)
				continue
			}
		} else if err := <-done; err != nil {
			t.Fatalf("child failed: %v", err)
		}
		c := &Checkpointer{Dir: dir}
		cfg, tr, va := resumeProblem()
		c.Fingerprint = Fingerprint(cfg, tr, va, "synthetic")
		s, _, err := c.Latest()
		if err != nil || s == nil {
			t.Fatalf("no checkpoint after a finished child: %v", err)
		}
		if !s.Done {
			continue
		}
		if !sameHead(s.Head, ref.Head) || !sameHead(s.Best, ref.Best) {
			t.Fatal("resumed run's weights differ from the uninterrupted run's")
		}
		if s.Step != ref.Step || s.BestEpoch != ref.BestEpoch || len(s.History) != len(ref.History) {
			t.Fatalf("resumed run at step %d best %d, uninterrupted %d best %d", s.Step, s.BestEpoch, ref.Step, ref.BestEpoch)
		}
		t.Logf("identical after %d kills", kills)
		return
	}
	t.Fatal("the child never finished")
}

func TestCheckpointCorruptionAndRotation(t *testing.T) {
	cfg, tr, va := resumeProblem()
	cfg.Epochs = 1
	l, err := NewLoop(cfg, tr, va)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &Checkpointer{Dir: dir, Keep: 2, Fingerprint: "fp"}
	l.Hooks = []Hook{CheckpointHook(c, 5)}
	if _, err := l.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, _ := c.list()
	if len(files) != 2 {
		t.Fatalf("%d checkpoints kept, want 2", len(files))
	}
	// flip a byte in the newest: Latest falls back to the older one
	b, _ := os.ReadFile(files[1])
	b[len(b)/2] ^= 1
	if err := os.WriteFile(files[1], b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodeCheckpoint(b); !errors.Is(err, ErrCheckpointCorrupt) {
		t.Errorf("corrupt checkpoint: err = %v", err)
	}
	s, path, err := c.Latest()
	if err != nil || s == nil || path != files[0] {
		t.Fatalf("Latest = %v, %q, %v; want the older file %s", s, path, err, filepath.Base(files[0]))
	}
	c.Fingerprint = "other"
	if _, _, err := c.Latest(); err == nil {
		t.Error("want an error resuming another configuration")
	}
}

// TestCheckpointClear: Clear removes the checkpoints and a crash's temporary files
// (which rotation also sweeps), and the folder only when nothing else is in it.
func TestCheckpointClear(t *testing.T) {
	cfg, tr, va := resumeProblem()
	cfg.Epochs = 1
	for _, other := range []bool{false, true} {
		l, err := NewLoop(cfg, tr, va)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "run.ckpt")
		c := &Checkpointer{Dir: dir, Keep: 2, Fingerprint: "fp"}
		l.Hooks = []Hook{CheckpointHook(c, 5)}
		if _, err := l.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		// what a crash inside atomicfile.Write leaves
		crash := filepath.Join(dir, ".ckpt-0000000099.atckpt.tmp-123")
		if err := os.WriteFile(crash, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Save(l.State); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(crash); err == nil {
			t.Error("rotation left a crashed write's temporary file")
		}
		if err := os.WriteFile(crash, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
		mine := filepath.Join(dir, "notes.txt")
		if other {
			if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Clear(); err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(dir)
		switch {
		case !other && err == nil:
			t.Errorf("the emptied folder is left: %v", ents)
		case other && (len(ents) != 1 || ents[0].Name() != "notes.txt"):
			t.Errorf("folder with a user's file: %v (%v), want notes.txt only", ents, err)
		}
	}
}
