/* clsoftmax_mpi: softmax, log-softmax and cross-entropy of rows whose columns are sharded across MPI ranks. */
#ifndef CLSOFTMAX_MPI_H
#define CLSOFTMAX_MPI_H

#include <stdint.h>

#include <mpi.h>

#include "clsoftmax.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A vocabulary-parallel softmax: every rank of @p comm holds the same rows,
 * each rank its own contiguous shard of every row's columns. The call is
 * collective: every rank of comm makes it, with the same op, dtype,
 * shape.outer, scale and option flags, and its own shard.
 *
 * shape is this rank's shard, [outer, axis, inner] with inner == 1: outer
 * rows of shape.axis columns (0 allowed: a rank with an empty shard still
 * takes part). @p first_column is the global index of the shard's column 0;
 * options->causal_offset and the window are for the whole row, and the mask
 * (if any) holds this rank's columns only. Sinks are joined once per row,
 * not once per rank. stats_in and stats_out are not taken (the call makes
 * its own; see clsm_mpi_cross_entropy for the log-sum-exp). softcap and ALiBi
 * pass through; ALiBi's distances and kv_lengths count in global columns (every
 * rank passes the same lengths; a rank keeps the columns of its shard below
 * len_b). scale is a double as for
 * clsm_softmax_host_ex().
 *
 * Each rank reads its shard once for its statistics, the (max, sum) pairs are
 * all-reduced with an MPI_Op built on clsm_stats_merge (in rank order, so
 * results are bitwise repeatable for a fixed rank count), and each rank
 * writes its output shard from the global statistics.
 *
 * @return the same status on every rank, and none hangs: if any rank's
 *         arguments are invalid, or a step fails on any rank, every rank
 *         returns the ranks' status that comes first in this order:
 *         CLSM_ERROR_MPI (an MPI call failed: the ranks may not have learnt
 *         the other statuses), then the caller's mistakes
 *         (CLSM_ERROR_INVALID_ARGUMENT, _INVALID_SHAPE, _UNSUPPORTED), then
 *         what the devices ran into (_DEVICE_NOT_FOUND, _BUILD_FAILED,
 *         _OUT_OF_MEMORY, _OPENCL), then CLSM_SUCCESS. An MPI call that fails
 *         on one rank only (MPI_ERRORS_RETURN) is CLSM_ERROR_MPI there; MPI
 *         does not promise that the others learn of it.
 */
CLSM_API clsm_status clsm_mpi_softmax_host(clsm_context *ctx, MPI_Comm comm, clsm_op op,
                                           clsm_dtype dtype, clsm_shape shape,
                                           size_t first_column, double scale,
                                           const clsm_options *options, const void *x, void *y);

/** clsm_mpi_softmax_host() on device buffers; blocking (returns once y is written). */
CLSM_API clsm_status clsm_mpi_softmax_buffers(clsm_context *ctx, MPI_Comm comm, clsm_op op,
                                              clsm_dtype dtype, clsm_shape shape,
                                              size_t first_column, double scale,
                                              const clsm_options *options, cl_mem x,
                                              size_t x_offset, cl_mem y, size_t y_offset);

/**
 * Cross-entropy of sharded logits: loss[r] = lse_r - scale*logits[r][target[r]]
 * in the compute type, where lse_r is the log-sum-exp of scale*logits over the
 * whole row (all ranks). Collective like clsm_mpi_softmax_host. Exactly one
 * rank owns each target column (first_column <= target < first_column +
 * shape.axis); a row whose target equals @p ignore_index gets loss 0 and is
 * left out of the mean, as PyTorch's ignore_index. Targets outside [0, total
 * columns) other than ignore_index are CLSM_ERROR_INVALID_ARGUMENT on every
 * rank.
 *
 * @param logits this rank's shard, host memory, [shape.outer, shape.axis].
 * @param targets shape.outer global column indices, the same on every rank.
 * @param loss if not NULL, receives shape.outer losses (f64 for F64, else
 *        f32), the same on every rank.
 * @param mean if not NULL, receives the mean over the rows not ignored (NaN
 *        when all are ignored), the same on every rank.
 */
CLSM_API clsm_status clsm_mpi_cross_entropy_host(clsm_context *ctx, MPI_Comm comm,
                                                 clsm_dtype dtype, clsm_shape shape,
                                                 size_t first_column, double scale,
                                                 const void *logits, const int64_t *targets,
                                                 int64_t ignore_index, void *loss,
                                                 double *mean);

#ifdef __cplusplus
}
#endif

#endif /* CLSOFTMAX_MPI_H */
