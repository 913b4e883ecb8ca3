/* Correctness: results against an f64 reference, in the contract's F32 error bounds. */
#include <math.h>

#include "check.h"

check_result check(clsm_op op, clsm_shape s, const float *x, const float *y)
{
    check_result r = {0.0, 0};
    for (size_t o = 0; o < s.outer; o++) {
        for (size_t i = 0; i < s.inner; i++) {
            size_t base = o * s.axis * s.inner + i;
            double m = -INFINITY, sum = 0.0;
            for (size_t k = 0; k < s.axis; k++)
                m = fmax(m, (double)x[base + k * s.inner]);
            for (size_t k = 0; k < s.axis; k++)
                sum += exp((double)x[base + k * s.inner] - m);
            double log_sum = log(sum);
            for (size_t k = 0; k < s.axis; k++) {
                size_t at = base + k * s.inner;
                double v = (double)x[at] - m, got = (double)y[at], err;
                int ok;
                if (op == CLSM_SOFTMAX) {
                    double ref = exp(v) / sum;
                    if (ref >= TINY_REF) {
                        err = fabs(got - ref) / ref;
                        ok = err <= TOL;
                    } else {
                        err = 0.0;
                        ok = fabs(got - ref) <= TINY_ABS;
                    }
                } else {
                    double ref = v - log_sum;
                    err = fabs(got - ref) / fmax(1.0, fabs(ref));
                    ok = err <= TOL;
                }
                if (!ok)
                    r.bad++;
                if (err > r.max_err)
                    r.max_err = err;
            }
        }
    }
    return r;
}
