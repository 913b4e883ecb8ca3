/* Outside consumer of the MPI companion: softmax of [1, 2, 3, 4] split across the ranks. */
#include <stdio.h>

#include <clsoftmax_mpi.h>

int main(int argc, char **argv)
{
    static const float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    static const double want[4] = {0.032058604, 0.087144318, 0.23688282, 0.64391426};
    int rank, ranks, bad = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    /* Columns [first, first + n) of the row of 4 on this rank (empty on ranks past the 4th). */
    size_t first = (size_t)rank * 4 / (size_t)ranks, end = (size_t)(rank + 1) * 4 / (size_t)ranks;
    clsm_shape shard = {1, end - first, 1};
    float y[4] = {0};
    clsm_context *ctx = NULL;
    clsm_status st = clsm_context_create(&ctx);
    /* Collective: every rank calls, also one whose context failed (it passes NULL). */
    clsm_status all = clsm_mpi_softmax_host(ctx, MPI_COMM_WORLD, CLSM_SOFTMAX, CLSM_F32, shard,
                                            first, 1.0f, NULL, x + first, y);
    clsm_context_release(ctx);
    if (st == CLSM_SUCCESS)
        st = all;
    if (st != CLSM_SUCCESS) {
        fprintf(stderr, "consumer_mpi: rank %d: %s\n", rank, clsm_status_string(st));
        bad = 1;
    }
    for (size_t j = 0; !bad && j < shard.axis; j++) {
        double err = (double)y[j] - want[first + j];
        if (!(err <= 1e-5 * want[first + j] && -err <= 1e-5 * want[first + j])) {
            fprintf(stderr, "consumer_mpi: y[%zu] = %.8f, want %.8f\n", first + j, y[j],
                    want[first + j]);
            bad = 1;
        }
    }
    int any_bad = bad;
    MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0 && !any_bad)
        printf("consumer_mpi: clsoftmax_mpi ok on %d ranks\n", ranks);
    MPI_Finalize();
    return any_bad;
}
