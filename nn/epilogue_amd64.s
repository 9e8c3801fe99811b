//go:build !purego

#include "textflag.h"

// func epilogueAVX2(y, r []float32, bias float32, relu bool)
// y[i] = [max](y[i] + bias [+ r[i]], 0) for i < len(y), len(y) a multiple of 8; r is
// empty (no residual) or at least as long as y.
TEXT ·epilogueAVX2(SB), NOSPLIT, $0-53
	MOVQ         y_base+0(FP), DI
	MOVQ         y_len+8(FP), CX
	MOVQ         r_base+24(FP), SI
	MOVQ         r_len+32(FP), DX
	VBROADCASTSS bias+48(FP), Y0
	MOVBLZX      relu+52(FP), AX
	VXORPS       Y1, Y1, Y1
	SHRQ         $3, CX
	JZ           done
	TESTQ        DX, DX
	JZ           nores
	TESTQ        AX, AX
	JZ           resloop

resreluloop:
	VADDPS  (DI), Y0, Y2
	VADDPS  (SI), Y2, Y2
	VMAXPS  Y1, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	DECQ    CX
	JNZ     resreluloop
	JMP     done

resloop:
	VADDPS  (DI), Y0, Y2
	VADDPS  (SI), Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	DECQ    CX
	JNZ     resloop
	JMP     done

nores:
	TESTQ AX, AX
	JZ    biasloop

reluloop:
	VADDPS  (DI), Y0, Y2
	VMAXPS  Y1, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     reluloop
	JMP     done

biasloop:
	VADDPS  (DI), Y0, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     biasloop

done:
	VZEROUPPER
	RET
