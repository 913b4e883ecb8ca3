/*
 * Vocabulary-parallel softmax and cross-entropy with libclsoftmax_mpi.
 *
 *   mpirun -np 2 build/examples/sharded_softmax [rows [vocab]]
 *
 * Every rank holds the same rows of random logits, but only its own contiguous slice of the
 * vocabulary (the columns). clsm_mpi_softmax_host() gives each rank its slice of the softmax
 * of the whole rows, and clsm_mpi_cross_entropy_host() the per-row loss and its mean, with
 * one small all-reduce of (max, sum) pairs per row. Rank 0 gathers the slices and checks them
 * against clsm_softmax_host() of the whole rows on its own device, and prints both.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <clsoftmax_mpi.h>

/* Deterministic logits in [-8, 8): the same on every rank. */
static float logit(uint64_t i)
{
    uint64_t z = (i + 1) * 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 16.0 - 8.0);
}

static int die(const char *what, clsm_status st)
{
    fprintf(stderr, "%s: %s\n", what, clsm_status_string(st));
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    size_t rows = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    size_t vocab = argc > 2 ? strtoul(argv[2], NULL, 10) : 32000;
    const int reps = 10;

    /* This rank's columns: an even split, the first ranks taking one more. */
    size_t cols = vocab / ranks + ((size_t)rank < vocab % ranks);
    size_t first = (size_t)rank * (vocab / ranks) + ((size_t)rank < vocab % ranks ? (size_t)rank : vocab % ranks);

    float *x = malloc(rows * cols * sizeof *x + 1), *y = malloc(rows * cols * sizeof *y + 1);
    float *loss = malloc(rows * sizeof *loss);
    int64_t *targets = malloc(rows * sizeof *targets);
    if (!x || !y || !loss || !targets)
        return die("malloc", CLSM_ERROR_OUT_OF_MEMORY);
    for (size_t r = 0; r < rows; r++) {
        targets[r] = (int64_t)((r * 7919) % vocab);
        for (size_t j = 0; j < cols; j++)
            x[r * cols + j] = logit(r * vocab + first + j);
    }

    clsm_context *ctx;
    clsm_status st = clsm_context_create(&ctx);
    if (st != CLSM_SUCCESS)
        return die("clsm_context_create", st);
    clsm_shape shard = {.outer = rows, .axis = cols, .inner = 1};

    /* Once to build the kernels, then timed. */
    double mean = 0;
    st = clsm_mpi_softmax_host(ctx, MPI_COMM_WORLD, CLSM_SOFTMAX, CLSM_F32, shard, first, 1.0f,
                               NULL, x, y);
    if (st == CLSM_SUCCESS)
        st = clsm_mpi_cross_entropy_host(ctx, MPI_COMM_WORLD, CLSM_F32, shard, first, 1.0f, x,
                                         targets, -100, loss, &mean);
    if (st != CLSM_SUCCESS)
        return die("sharded call", st);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < reps; i++)
        clsm_mpi_softmax_host(ctx, MPI_COMM_WORLD, CLSM_SOFTMAX, CLSM_F32, shard, first, 1.0f,
                              NULL, x, y);
    double t_softmax = (MPI_Wtime() - t0) / reps;
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    for (int i = 0; i < reps; i++)
        clsm_mpi_cross_entropy_host(ctx, MPI_COMM_WORLD, CLSM_F32, shard, first, 1.0f, x,
                                    targets, -100, loss, &mean);
    double t_loss = (MPI_Wtime() - t0) / reps;

    /* Rank 0 gathers the slices into whole rows. */
    int *counts = malloc(ranks * sizeof *counts), *displs = malloc(ranks * sizeof *displs);
    int mine = (int)(rows * cols);
    MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    float *packed = NULL;
    if (rank == 0) {
        int at = 0;
        for (int r = 0; r < ranks; r++) {
            displs[r] = at;
            at += counts[r];
        }
        packed = malloc((size_t)at * sizeof *packed + 1);
    }
    MPI_Gatherv(y, mine, MPI_FLOAT, packed, counts, displs, MPI_FLOAT, 0, MPI_COMM_WORLD);

    int failed = 0;
    if (rank == 0) {
        /* The whole rows on one rank, with the core library. */
        float *all = malloc(rows * vocab * sizeof *all), *sharded = malloc(rows * vocab * sizeof *sharded);
        float *single = malloc(rows * vocab * sizeof *single), *logp = malloc(rows * vocab * sizeof *logp);
        if (!all || !sharded || !single || !logp)
            return die("malloc", CLSM_ERROR_OUT_OF_MEMORY);
        for (size_t i = 0; i < rows * vocab; i++)
            all[i] = logit(i);
        for (int r = 0, col = 0; r < ranks; r++) {
            int c = counts[r] / (int)(rows ? rows : 1);
            for (size_t o = 0; o < rows; o++)
                for (int j = 0; j < c; j++)
                    sharded[o * vocab + (size_t)(col + j)] = packed[displs[r] + (int)o * c + j];
            col += c;
        }
        clsm_shape whole = {.outer = rows, .axis = vocab, .inner = 1};
        st = clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, whole, 1.0f, all, single);
        double t_single = 0;
        if (st == CLSM_SUCCESS) {
            t0 = MPI_Wtime();
            for (int i = 0; i < reps; i++)
                clsm_softmax_host(ctx, CLSM_SOFTMAX, CLSM_F32, whole, 1.0f, all, single);
            t_single = (MPI_Wtime() - t0) / reps;
            st = clsm_softmax_host(ctx, CLSM_LOG_SOFTMAX, CLSM_F32, whole, 1.0f, all, logp);
        }
        if (st != CLSM_SUCCESS)
            return die("clsm_softmax_host", st);

        double max_rel = 0, max_loss = 0, single_mean = 0;
        for (size_t i = 0; i < rows * vocab; i++)
            max_rel = fmax(max_rel, fabs((double)sharded[i] - single[i]) / fmax(single[i], 1e-30));
        for (size_t r = 0; r < rows; r++) {
            double want = -(double)logp[r * vocab + (size_t)targets[r]];
            single_mean += want / (double)rows;
            max_loss = fmax(max_loss, fabs(loss[r] - want));
        }
        printf("%d rank%s, %zu rows x %zu columns (F32), %zu..%zu columns per rank\n", ranks,
               ranks == 1 ? "" : "s", rows, vocab, vocab / ranks, (vocab + ranks - 1) / ranks);
        printf("  row 0, columns 0..3: sharded %.8g %.8g %.8g %.8g\n", sharded[0], sharded[1],
               sharded[2], sharded[3]);
        printf("                       single  %.8g %.8g %.8g %.8g\n", single[0], single[1],
               single[2], single[3]);
        printf("  loss of row 0: sharded %.8g, single %.8g; mean: sharded %.8g, single %.8g\n",
               loss[0], -(double)logp[(size_t)targets[0]], mean, single_mean);
        printf("  max relative difference of the softmax %.3g, max loss difference %.3g\n",
               max_rel, max_loss);
        printf("  time per call: sharded softmax %.3f ms, sharded cross-entropy %.3f ms; "
               "single-rank softmax of the whole rows %.3f ms\n",
               t_softmax * 1e3, t_loss * 1e3, t_single * 1e3);
        failed = !(max_rel <= 1e-5 && max_loss <= 1e-4);
        if (failed)
            printf("  MISMATCH\n");
        free(all);
        free(sharded);
        free(single);
        free(logp);
        free(packed);
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(counts);
    free(displs);
    free(x);
    free(y);
    free(loss);
    free(targets);
    clsm_context_release(ctx);
    MPI_Finalize();
    return failed;
}
