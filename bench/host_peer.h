/* The host C peer: a hand-written softmax on the CPU, the yardstick a user would otherwise write. */
#ifndef BENCH_HOST_PEER_H
#define BENCH_HOST_PEER_H

#include <stddef.h>

/* Softmax (log_softmax = 0) or log-softmax along the axis of the [outer, axis, inner] tensor
 * x into y (not overlapping x), with scale 1. 0, or -1 if scratch memory ran out. */
int host_peer_softmax(int log_softmax, size_t outer, size_t axis, size_t inner, const float *x,
                      float *y);

/* How many OpenMP threads host_peer_softmax() runs on. */
int host_peer_threads(void);

#endif
