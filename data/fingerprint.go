package data

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"math/bits"
	"runtime"
	"sync"

	"github.com/disintegration/imaging"
)

// DefaultMaxHashDistance is the largest Hamming distance (of 128 dHash bits) at which
// two images count as near-duplicates: re-encoding or downscaling a photo moves its
// hash by well under it, while different photos lie well above it.
// TestCheckFindsPlantedLeak (a downscaled, re-encoded copy is caught) and
// TestNoDuplicatesAcrossCocoSets (no two shared COCO photos pair up) re-check both sides.
const DefaultMaxHashDistance = 16

// Fingerprint identifies an image twice over: exactly by the SHA-256 of its file
// content, and perceptually by a 128-bit difference hash that survives re-encoding,
// resizing and small colour changes.
type Fingerprint struct {
	SHA256 [32]byte
	// DHash holds the horizontal and vertical difference hashes: the image is
	// shrunk to 9×8 (8×9) grey pixels and each bit says whether a pixel is brighter
	// than its right (lower) neighbour (N. Krawetz, "Kind of like that", 2013).
	DHash [2]uint64
}

// Hex is the SHA-256 in hex.
func (f Fingerprint) Hex() string { return hex.EncodeToString(f.SHA256[:]) }

// Distance is the Hamming distance between two perceptual hashes (0-128).
func (f Fingerprint) Distance(g Fingerprint) int {
	return bits.OnesCount64(f.DHash[0]^g.DHash[0]) + bits.OnesCount64(f.DHash[1]^g.DHash[1])
}

// FingerprintBytes fingerprints an encoded image.
func FingerprintBytes(b []byte, opt DecodeOptions) (Fingerprint, error) {
	fp := Fingerprint{SHA256: sha256.Sum256(b)}
	img, err := decodeBytes(b, opt)
	if err != nil {
		return fp, err
	}
	fp.DHash = DHash(img)
	return fp, nil
}

// FingerprintFile reads path once, up to the decode size cap (opt.MaxBytes), and
// fingerprints it; only regular files are read. Errors name the file.
func FingerprintFile(path string, opt DecodeOptions) (Fingerprint, error) {
	b, err := readImageFile(path, opt.maxBytes())
	if err != nil {
		return Fingerprint{}, err
	}
	fp, err := FingerprintBytes(b, opt)
	if err != nil {
		return fp, fmt.Errorf("%s: %w", path, err)
	}
	return fp, nil
}

// DHash computes the horizontal and vertical difference hashes of img.
func DHash(img image.Image) [2]uint64 {
	grey := func(w, h int) []float64 {
		small := imaging.Resize(img, w, h, imaging.Box) // area average, antialiased
		g := make([]float64, w*h)
		for i := range g {
			p := small.Pix[4*i:]
			g[i] = 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
		}
		return g
	}
	var h [2]uint64
	g := grey(9, 8)
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			if g[y*9+x] > g[y*9+x+1] {
				h[0] |= 1 << (y*8 + x)
			}
		}
	}
	g = grey(8, 9)
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			if g[y*8+x] > g[(y+1)*8+x] {
				h[1] |= 1 << (y*8 + x)
			}
		}
	}
	return h
}

// FingerprintFiles fingerprints paths with a pool of workers (0 = GOMAXPROCS). The
// error slice has one entry per path (nil when it worked). It stops early, with
// ctx.Err(), when ctx is cancelled.
func FingerprintFiles(ctx context.Context, paths []string, workers int, opt DecodeOptions) ([]Fingerprint, []error, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	fps := make([]Fingerprint, len(paths))
	errs := make([]error, len(paths))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fps[i], errs[i] = FingerprintFile(paths[i], opt)
			}
		}()
	}
	var err error
feed:
	for i := range paths {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return fps, errs, err
}

// DuplicateGroups clusters fingerprints that are identical files or whose perceptual
// hashes are within maxDist bits (maxDist < 0: identical files only), transitively.
// It returns a group id per fingerprint (ids are the smallest member index) and the
// groups with more than one member. Candidate pairs come from the pigeonhole
// principle — split the 128 bits into maxDist+1 blocks; two hashes within maxDist
// agree exactly on at least one block — so it is near-linear, not all pairs.
// Fingerprints marked invalid (ok[i] false) are left alone.
func DuplicateGroups(fps []Fingerprint, ok []bool, maxDist int) ([]int, [][]int) {
	parent := make([]int, len(fps))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		ra, rb := find(a), find(b)
		if ra != rb {
			parent[max(ra, rb)] = min(ra, rb)
		}
	}
	valid := func(i int) bool { return ok == nil || ok[i] }
	bySHA := map[[32]byte]int{}
	for i, f := range fps {
		if !valid(i) {
			continue
		}
		if j, seen := bySHA[f.SHA256]; seen {
			union(i, j)
		} else {
			bySHA[f.SHA256] = i
		}
	}
	if maxDist >= 0 {
		blocks := min(maxDist+1, 128)
		type key struct {
			block int
			val   [2]uint64
		}
		buckets := map[key][]int{}
		for b := 0; b < blocks; b++ {
			lo, hi := b*128/blocks, (b+1)*128/blocks
			mask := bitMask(lo, hi)
			clear(buckets)
			for i, f := range fps {
				if !valid(i) {
					continue
				}
				k := key{b, [2]uint64{f.DHash[0] & mask[0], f.DHash[1] & mask[1]}}
				for _, j := range buckets[k] {
					if find(i) != find(j) && fps[i].Distance(fps[j]) <= maxDist {
						union(i, j)
					}
				}
				buckets[k] = append(buckets[k], i)
			}
		}
	}
	ids := make([]int, len(fps))
	members := map[int][]int{}
	for i := range fps {
		ids[i] = find(i)
		members[ids[i]] = append(members[ids[i]], i)
	}
	var groups [][]int
	for i := range fps {
		if ids[i] == i && len(members[i]) > 1 {
			groups = append(groups, members[i])
		}
	}
	return ids, groups
}

// bitMask has bits lo..hi-1 of a 128-bit value set.
func bitMask(lo, hi int) [2]uint64 {
	var m [2]uint64
	for b := lo; b < hi; b++ {
		m[b/64] |= 1 << (b % 64)
	}
	return m
}
