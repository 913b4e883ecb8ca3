/* Constants the host code and the kernels share, each defined once, here.
 *
 * Plain #defines, valid C and OpenCL C alike. The host includes this file (kernels/ is on the
 * library's include path), and every program's sources start with its embedded copy
 * (host/program.c), so the kernels see the same values. This is simpler than passing them as
 * -D build options (host/variant.c): they are the same for every variant, so they stay out of
 * the options, which are the in-memory program cache's key and bounded by CLSM_OPTIONS_MAX,
 * and a change here still reaches the on-disk cache's key, which holds the sources. The
 * literals carry no suffix, so that the kernels' arithmetic with them is what it was when
 * the kernels spelled them out.
 */
#ifndef CLSM_SHARED_CONSTANTS_H
#define CLSM_SHARED_CONSTANTS_H

/* The lanes of the CPU families' vectors (VEC in softmax_common.cl), 64 bytes of reals: f32
 * for F32, F16 and BF16, f64 for F64. The host cuts row bundles and split chunks by the f32
 * count; the kernels' vector types are spelled out with these counts (float16, double8). */
#define CLSM_LANES_F32 16
#define CLSM_LANES_F64 8

/* columns: the blocks of VEC neighbouring strided slices a work-item walks at once, so that it
 * reads up to this many vectors of each row of a slab, contiguous, instead of one vector
 * of each of its rows at a row's stride. */
#define CLSM_COLUMNS_WIDE 4

/* regs: the entries a work-item holds (-DITEMS): few while a slice fits CLSM_REGS_FEW_GROUP
 * work-items so, else many. The work-group sizes bound what host/families.c launches and size
 * softmax_regs.cl's local arrays (MAX_GROUP): both kernels' arrays together must stay within
 * the 32 KiB of local memory every device has, which 1024 f64 work-items would pass (oclgrind
 * counted 48 KiB), hence the smaller f64 bound. */
#define CLSM_REGS_FEW 4
#define CLSM_REGS_MANY 16
#define CLSM_REGS_FEW_GROUP 256
#define CLSM_REGS_MAX_GROUP 1024
#define CLSM_REGS_MAX_GROUP_F64 512

/* Sampling (kernels/sample.cl): top-k up to CLSM_SAMPLE_SMALL_K is found in one pass from
 * per-work-item candidate lists; each work-item's chunk is cut into sub-blocks (a CPU's
 * single work-item CLSM_SAMPLE_SUBS_CPU, a GPU's CLSM_SAMPLE_SUBS), so that finding the drawn
 * entry reads one of them again; GPUs take a row with CLSM_SAMPLE_GROUP work-items (f64:
 * CLSM_SAMPLE_GROUP_F64), whose local arrays then take 25 KiB (f32) and 17 KiB (f64) of the
 * 32 KiB every device has: 32 f64 work-items took 33.5 KiB, which oclgrind refused. The
 * flags say which of the call's tensors are set. */
#define CLSM_SAMPLE_SMALL_K 64
#define CLSM_SAMPLE_SUBS 16
#define CLSM_SAMPLE_SUBS_CPU 128
#define CLSM_SAMPLE_GROUP 32
#define CLSM_SAMPLE_GROUP_F64 16
#define CLSM_SAMPLE_TEMPERATURES 1
#define CLSM_SAMPLE_TOP_KS 2
#define CLSM_SAMPLE_TOP_PS 4
#define CLSM_SAMPLE_MIN_PS 8
#define CLSM_SAMPLE_SEEDS 16
#define CLSM_SAMPLE_LOGPROBS 32

#endif
