#!/bin/sh
# gen.sh regenerates the synthetic JPEG fixtures in this directory with Debian's
# libjpeg-turbo tools (cjpeg, jpegtran; libjpeg-turbo 2.1.5 made the committed
# ones) from pictures synth.go draws. No real photos are involved.
#
#	cd data/jpeg/testdata && ./gen.sh
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

synth() { # name w h [flags]
	name=$1 w=$2 h=$3
	shift 3
	go run synth.go -w "$w" -h "$h" "$@" >"$tmp/$name"
}

synth rgb.ppm 61 47
synth gray.pgm 61 47 -gray
synth big.ppm 96 64 -seed 2

# Chroma subsampling ratios image/jpeg returns as *image.YCbCr.
cjpeg -quality 85 -sample 1x1 "$tmp/rgb.ppm" >s444.jpg
cjpeg -quality 85 -sample 2x1 "$tmp/rgb.ppm" >s422.jpg
cjpeg -quality 85 -sample 1x2 "$tmp/rgb.ppm" >s440.jpg
cjpeg -quality 85 -sample 2x2 "$tmp/rgb.ppm" >s420.jpg
cjpeg -quality 85 -sample 4x1 "$tmp/rgb.ppm" >s411.jpg
cjpeg -quality 85 -sample 4x2 "$tmp/rgb.ppm" >s410.jpg
cjpeg -quality 85 -sample 2x2,1x1,1x1 -grayscale "$tmp/rgb.ppm" >gray_from_rgb.jpg
cjpeg -quality 90 -grayscale "$tmp/gray.pgm" >gray.jpg
# 4:2:2 with a 4x1 luma MCU (chroma 2x1).
cjpeg -quality 85 -sample 4x1,2x1,2x1 "$tmp/rgb.ppm" >s422_mcu32.jpg

# Odd sizes: partial MCUs at the right and bottom edges.
for size in 1x1 7x9 17x33 250x3 3x250 33x17; do
	w=${size%x*} h=${size#*x}
	synth "odd$size.ppm" "$w" "$h" -seed 3
	cjpeg -quality 80 "$tmp/odd$size.ppm" >"odd_${size}_420.jpg"
	cjpeg -quality 80 -grayscale "$tmp/odd$size.ppm" >"odd_${size}_gray.jpg"
done
cjpeg -quality 80 -sample 4x1 "$tmp/odd17x33.ppm" >odd_17x33_411.jpg
cjpeg -quality 80 -sample 1x2 "$tmp/odd17x33.ppm" >odd_17x33_440.jpg

# Restart intervals: every MCU row, every MCU, every 3 MCUs.
cjpeg -quality 85 -restart 1 "$tmp/rgb.ppm" >restart_row.jpg
cjpeg -quality 85 -restart 1B "$tmp/rgb.ppm" >restart_1b.jpg
cjpeg -quality 85 -restart 3B -sample 2x1 "$tmp/rgb.ppm" >restart_3b_422.jpg
cjpeg -quality 85 -restart 1B -grayscale "$tmp/gray.pgm" >restart_1b_gray.jpg

# Optimised Huffman tables, extreme qualities (q100: long codes, large values;
# q5 without -baseline: 16-bit quantisation tables and an SOF1 frame).
cjpeg -quality 85 -optimize "$tmp/rgb.ppm" >optimized.jpg
cjpeg -quality 100 -sample 1x1 "$tmp/big.ppm" >q100.jpg
cjpeg -quality 100 -optimize "$tmp/big.ppm" >q100_opt.jpg
cjpeg -quality 2 "$tmp/rgb.ppm" >q2_extended.jpg

# Sequential but multi-scan: one non-interleaved scan per component.
cat >"$tmp/seq.scans" <<'SCANS'
0: 0 63 0 0;
1: 0 63 0 0;
2: 0 63 0 0;
SCANS
cjpeg -quality 85 -scans "$tmp/seq.scans" "$tmp/rgb.ppm" >seq_scans.jpg
cjpeg -quality 85 -scans "$tmp/seq.scans" -restart 2B -sample 1x1 "$tmp/big.ppm" >seq_scans_restart.jpg
# image/jpeg counts restart intervals in whole MCUs even in a non-interleaved scan
# (T.81 counts blocks there), so it rejects this 4:2:0 one; Decode must too.
cjpeg -quality 85 -scans "$tmp/seq.scans" -restart 2B "$tmp/rgb.ppm" >stdfail_seq_scans_restart.jpg

# Progressive: libjpeg's default script (spectral selection and successive
# approximation), custom scripts, restarts, grayscale and odd sizes.
cjpeg -quality 85 -progressive "$tmp/rgb.ppm" >prog.jpg
cjpeg -quality 85 -progressive -sample 1x1 "$tmp/big.ppm" >prog_444.jpg
jpegtran -progressive s422.jpg >prog_422.jpg
jpegtran -progressive gray.jpg >prog_gray.jpg
jpegtran -progressive odd_17x33_420.jpg >prog_odd.jpg
jpegtran -progressive -restart 1B s444.jpg >prog_restart_444.jpg
jpegtran -progressive -restart 2B gray.jpg >prog_restart_gray.jpg
# As for sequential scans, image/jpeg rejects restarts in non-interleaved scans
# of a component with several blocks per MCU (4:2:0 luma, 4:1:1 luma).
jpegtran -progressive -restart 1B s420.jpg >stdfail_prog_restart.jpg
jpegtran -progressive -optimize q100.jpg >prog_q100.jpg
cat >"$tmp/sa.scans" <<'SCANS'
# DC first at Al=2, then refined twice; AC bands with two refinements each.
0,1,2: 0 0 0 2;
0: 1 5 0 2;
2: 1 63 0 1;
1: 1 63 0 1;
0: 6 63 0 2;
0: 1 63 2 1;
0,1,2: 0 0 2 1;
0,1,2: 0 0 1 0;
0: 1 63 1 0;
1: 1 63 1 0;
2: 1 63 1 0;
SCANS
jpegtran -scans "$tmp/sa.scans" s420.jpg >prog_sa.jpg
jpegtran -scans "$tmp/sa.scans" q100_opt.jpg >prog_sa_q100.jpg
jpegtran -scans "$tmp/sa.scans" -restart 2B s444.jpg >prog_sa_444_restart.jpg
jpegtran -scans "$tmp/sa.scans" -restart 2B s411.jpg >stdfail_prog_sa_411_restart.jpg
cat >"$tmp/dcsep.scans" <<'SCANS'
# DC of each component in its own (non-interleaved) scan, AC in 3 bands.
0: 0 0 0 0;
1: 0 0 0 0;
2: 0 0 0 0;
0: 1 2 0 0;
0: 3 63 0 0;
1: 1 63 0 0;
2: 1 63 0 0;
SCANS
jpegtran -scans "$tmp/dcsep.scans" s420.jpg >prog_dcsep.jpg

# RGB (Adobe transform 0), which image/jpeg returns as *image.RGBA.
cjpeg -quality 85 -rgb "$tmp/rgb.ppm" >rgb.jpg
jpegtran -progressive rgb.jpg >prog_rgb.jpg

# Four components, which image/jpeg returns as *image.CMYK. ImageMagick (convert)
# writes YCCK (Adobe transform 2) in both layouts image/jpeg takes: 2x2,1x1,1x1,2x2
# by default, and 1x1 throughout; the tests patch the Adobe transform to make CMYK.
convert "$tmp/rgb.ppm" -colorspace CMYK -quality 85 ycck_420.jpg
convert "$tmp/rgb.ppm" -colorspace CMYK -sampling-factor 1x1 -quality 85 ycck_444.jpg
convert "$tmp/odd17x33.ppm" -colorspace CMYK -quality 80 odd_17x33_ycck.jpg
jpegtran -progressive ycck_420.jpg >prog_ycck_420.jpg
jpegtran -progressive -restart 1B ycck_444.jpg >prog_ycck_444_restart.jpg
jpegtran -progressive odd_17x33_ycck.jpg >prog_odd_ycck.jpg
cat >"$tmp/sa4.scans" <<'SCANS'
# As sa.scans, for four components.
0,1,2,3: 0 0 0 2;
0: 1 5 0 2;
3: 1 63 0 1;
1: 1 63 0 1;
2: 1 63 0 1;
0: 6 63 0 2;
0: 1 63 2 1;
0,1,2,3: 0 0 2 1;
0,1,2,3: 0 0 1 0;
0: 1 63 1 0;
1: 1 63 1 0;
2: 1 63 1 0;
3: 1 63 1 0;
SCANS
jpegtran -scans "$tmp/sa4.scans" ycck_444.jpg >prog_sa_ycck.jpg
cat >"$tmp/seq4.scans" <<'SCANS'
0: 0 63 0 0;
1: 0 63 0 0;
2: 0 63 0 0;
3: 0 63 0 0;
SCANS
jpegtran -scans "$tmp/seq4.scans" -restart 2B ycck_444.jpg >seq_scans_ycck_restart.jpg

# Not decoded by image/jpeg: Decode must return ErrUnsupported (or an error).
cjpeg -quality 85 -arithmetic "$tmp/rgb.ppm" >unsup_arith.jpg
jpegtran -arithmetic -progressive s420.jpg >unsup_arith_prog.jpg
cjpeg -quality 85 -sample 3x1 "$tmp/rgb.ppm" >unsup_sample3.jpg
