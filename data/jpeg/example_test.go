package jpeg_test

import (
	"errors"
	"fmt"
	"image"
	"os"

	"github.com/autotag/autotag/data/jpeg"
)

// Decode a photo at half size, reconstructing only a centre square; a kind of JPEG
// this package does not decode (here arithmetic-coded) is one image/jpeg rejects
// too.
func ExampleDecode() {
	data, err := os.ReadFile("testdata/s420.jpg")
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := jpeg.Decode(data, jpeg.Options{Scale: 2, Region: image.Rect(8, 4, 24, 20)})
	if errors.Is(err, jpeg.ErrUnsupported) {
		fmt.Println("use image/jpeg")
		return
	} else if err != nil {
		fmt.Println(err)
		return
	}
	y := m.(*image.YCbCr)
	fmt.Println(y.Bounds(), y.SubsampleRatio)

	_, err = jpeg.Decode(mustRead("testdata/unsup_arith.jpg"), jpeg.Options{})
	fmt.Println(errors.Is(err, jpeg.ErrUnsupported))

	// CMYK and YCCK come out as image/jpeg returns them.
	m, err = jpeg.Decode(mustRead("testdata/ycck_420.jpg"), jpeg.Options{})
	fmt.Printf("%T %v %v\n", m, m.Bounds(), err)
	// Output:
	// (0,0)-(31,24) YCbCrSubsampleRatio420
	// true
	// *image.CMYK (0,0)-(61,47) <nil>
}

func mustRead(name string) []byte {
	data, err := os.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return data
}
