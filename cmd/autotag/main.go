// Command autotag tags photos with a ResNet50 built in Gorgonia; see the README.
package main

import (
	"context"
	"os"

	"github.com/autotag/autotag/cmd"
)

func main() { os.Exit(cmd.Execute(context.Background())) }
