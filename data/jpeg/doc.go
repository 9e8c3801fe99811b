// Package jpeg is a fast, pure-Go JPEG decoder for the server's hot path, a
// drop-in for image/jpeg that also decodes at 1/2, 1/4 or 1/8 scale and can skip
// the blocks a caller will not read.
//
// # What it decodes
//
// Huffman-coded, 8-bit, DCT-based JPEG (ITU-T T.81): baseline (SOF0), extended
// sequential (SOF1, including 16-bit quantization tables and four Huffman tables)
// and progressive (SOF2, Annex G: spectral selection and successive
// approximation), with restart intervals (DRI, RSTn), multi-scan sequential
// images, and every colour model image/jpeg decodes: grayscale, YCbCr with the
// subsampling ratios image/jpeg returns as *image.YCbCr (4:4:4, 4:2:2, 4:2:0,
// 4:4:0, 4:1:1, 4:1:0), RGB (Adobe transform 0 or component ids 'R','G','B') as
// *image.RGBA, and four components (Adobe CMYK, or YCCK for any other Adobe
// transform; sampled 1x1 throughout or 2x2,1x1,1x1,2x2) as *image.CMYK. So no
// file image/jpeg decodes needs it: every one gets this decoder's work limits and
// cancellation.
//
// What image/jpeg does not decode either is an error wrapping ErrUnsupported,
// found from the headers before any scan is decoded: sampling factors of 3 and
// other layouts image/jpeg refuses, 12-bit precision, arithmetic coding (SOF9-11,
// SOF13-15, DAC), lossless (SOF3) and hierarchical (SOF5-7) processes.
//
// # Exactness
//
// With Options{} (Scale 1, no Region) the output is identical to image/jpeg's:
// same concrete type, rectangle, subsampling ratio and samples. That is the
// contract the tests check on real photos, synthetic fixtures, truncations and a
// differential fuzzer. It dictates several choices:
//
//   - The 8×8 inverse DCT (idct.go) is image/jpeg's integer algorithm — Loeffler,
//     Ligtenberg and Moschytz's 11-multiply DCT (ICASSP 1989) run backwards, rows
//     then columns — with the same constants and the same right shifts; between
//     shifts, int32 arithmetic is a ring, so zero terms can be dropped without
//     changing a bit. Level shift and clamping are T.81 A.3.1's, as image/jpeg does
//     them.
//   - Malformed input is accepted or rejected as image/jpeg does: junk between
//     segments is skipped, quantization tables default to zero, a missing Huffman
//     table fails only when used, over-subscribed Huffman tables decode the way
//     image/jpeg's tables happen to decode them, an end-of-band run in a sequential
//     scan carries into the next blocks, a single-component scan walks whole MCUs,
//     and restart intervals count image/jpeg's MCUs (so, like image/jpeg, Decode
//     rejects restarts in non-interleaved scans of 4:2:0 or 4:1:1 luma). A
//     zero-width or zero-height frame gives an empty image, as image/jpeg's does.
//   - Entropy-coded data ends at the first marker; reading past it is an error, as
//     in image/jpeg (which does not pad with ones like libjpeg).
//
// # Speed
//
// The entropy decoder (huffman.go, scan.go) keeps a 64-bit bit reservoir refilled
// eight bytes at a time when none is 0xff (after libjpeg-turbo's jdhuff.c), decodes
// codes of up to 10 bits with one table lookup, and for AC coefficients whose code
// and extra bits fit in 10 bits gets run, value and length from one lookup (the
// "fast AC" table of Sean Barrett's stb_image). Coefficients are dequantized as they
// are decoded, and a row mask tells the inverse DCT which rows are empty, which hold
// only a DC term, and when a block is DC-only (a fill). Planes are allocated once
// per image; nothing is allocated per block or MCU.
//
// # Scaled and region decoding
//
// Options.Scale 2, 4 and 8 run reduced inverse DCTs (idctred.go) on the 4×4, 2×2
// and 1×1 lowest-frequency coefficients, as libjpeg's jidctred.c does (Tom Lane,
// IJG), so every block yields (8/Scale)² samples and the image is
// ceil(W/Scale)×ceil(H/Scale) with its subsampling ratio unchanged.
// Options.Region names the output pixels the caller will read: blocks that cover
// none of them (for chroma: none of the luma-grid pixels they cover) are entropy
// decoded — the bit stream must be walked — but not transformed or stored.
//
// # Limits
//
// Decode allocates the output planes of the header's size (whole MCUs, as
// image/jpeg) once the first scan starts, after a cheap check that the remaining
// data could hold that scan; callers should cap W×H before calling. Progressive
// images also keep 64 int32 coefficients per block (4 bytes per sample, as
// image/jpeg) until EOI.
//
// The work a file asks for is bounded too (limits.go): the number of scans
// (Limits.MaxScans) and, charged from each scan's header before it is decoded, the
// coefficients its blocks walk, against a budget of Limits.CoefficientsPerSample
// per sample of the frame plus Limits.CoefficientsPerByte per input byte. A file
// over a limit fails with an error wrapping ErrLimit; Precheck applies the same
// accounting without decoding, for a caller that still hands a file to another
// decoder. Options.Context
// cancels a decode between scans and MCU rows. A last-resort recover turns an
// unexpected panic into an error.
package jpeg
