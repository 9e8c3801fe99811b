// Package reftest checks autotag's whole inference path — data.Decode,
// data.Preprocess, weights.Load and nn's ResNet50 — against an independent reference:
// PyTorch running the Keras ResNet50 rebuilt straight from the npm TF.js files
// (testdata/reftest/make_reference.py) on the very tensors our preprocessing produced.
// The stored reference holds, per photo, the sha256 of the image and of the
// preprocessed tensor, the reference top-5 and every probability ≥ 5e-5.
//
// The tests need ../shared/data and the imported model (internal/testenv) and skip
// cleanly without them or in -short mode. To regenerate the reference:
//
//	go test ./internal/reftest -run TestWriteInputs -reftest.write=/tmp/reft
//	/usr/bin/python3 testdata/reftest/make_reference.py \
//	    /work/cache/npm/package/ResNet50 /tmp/reft testdata/reftest/reference.json
//
// (the first argument is the unpacked npm package's ResNet50 directory).
package reftest
