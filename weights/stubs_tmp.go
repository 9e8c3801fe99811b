package weights

import (
	"context"
	"errors"
)

func importPyTorch(ctx context.Context, src string) (*Model, error) {
	return nil, errors.New("PyTorch import not implemented yet")
}

func importSafetensors(ctx context.Context, src string) (*Model, error) {
	return nil, errors.New("safetensors import not implemented yet")
}
