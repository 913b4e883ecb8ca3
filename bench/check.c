/* Correctness: results against an f64 reference, in the contract's F32 error bounds. */
#include <math.h>
#include <stdint.h>

#include "check.h"

static double half_to_double(uint16_t h)
{
    int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    double v;
    if (exponent == 0)
        v = ldexp(mantissa, -24);
    else if (exponent == 31)
        v = mantissa ? NAN : INFINITY;
    else
        v = ldexp(mantissa + 1024, exponent - 25);
    return (h & 0x8000) ? -v : v;
}

/* u_k of the contract at scale 1: x, capped, plus the mask, less ALiBi's bias, then -inf
 * where causal or a KV length masks it. These need inner = 1, so slice o is row o of the
 * [batch, heads, rows] view. */
static double masked(const clsm_options *opt, size_t outer, size_t o, size_t k, float x)
{
    double u = (double)x;
    if (!opt)
        return u;
    size_t rows = opt->rows ? opt->rows : outer, heads = opt->heads ? opt->heads : 1;
    size_t r = o % rows, h = o / rows % heads, b = o / rows / heads;
    if (opt->softcap > 0)
        u = opt->softcap * tanh(u / opt->softcap);
    if (opt->mask_type == CLSM_MASK_ADD_F16) {
        const uint16_t *mask = opt->mask.host;
        const size_t *st = opt->mask_stride;
        u += half_to_double(mask[b * st[0] + h * st[1] + r * st[2] + k * st[3]]);
    }
    ptrdiff_t offset = opt->causal_offset;
    if (opt->kv_lengths.host) {
        ptrdiff_t len = ((const int32_t *)opt->kv_lengths.host)[b];
        if ((ptrdiff_t)k >= len)
            return -INFINITY;
        offset += len - (ptrdiff_t)rows;
    }
    if (opt->alibi_slopes.host)
        u -= ((const float *)opt->alibi_slopes.host)[h] * fabs((double)k - (double)r - offset);
    if (opt->causal && (ptrdiff_t)k > (ptrdiff_t)r + offset)
        u = -INFINITY;
    return u;
}

check_result check(clsm_op op, clsm_shape s, const clsm_options *opt, const float *x,
                   const float *y)
{
    check_result r = {0.0, 0};
    /* The contract's allowance for the compute type's own tanh when soft-capping. */
    const double tol = TOL + (opt && opt->softcap > 0 ? 8 * 0x1p-24 * opt->softcap : 0);
    for (size_t o = 0; o < s.outer; o++) {
        for (size_t i = 0; i < s.inner; i++) {
            size_t base = o * s.axis * s.inner + i;
            double m = -INFINITY, sum = 0.0;
            for (size_t k = 0; k < s.axis; k++)
                m = fmax(m, masked(opt, s.outer, o, k, x[base + k * s.inner]));
            for (size_t k = 0; k < s.axis; k++)
                sum += exp(masked(opt, s.outer, o, k, x[base + k * s.inner]) - m);
            double log_sum = log(sum);
            for (size_t k = 0; k < s.axis; k++) {
                size_t at = base + k * s.inner;
                /* A fully masked slice (m = -inf) is all zeros / all -inf by the contract. */
                double v = m == -INFINITY ? -INFINITY : masked(opt, s.outer, o, k, x[at]) - m;
                double got = (double)y[at], err;
                int ok;
                if (op == CLSM_SOFTMAX) {
                    double ref = v == -INFINITY ? 0.0 : exp(v) / sum;
                    if (ref >= TINY_REF) {
                        err = fabs(got - ref) / ref;
                        ok = err <= tol;
                    } else {
                        err = 0.0;
                        ok = fabs(got - ref) <= TINY_ABS;
                    }
                } else if (v == -INFINITY) {
                    /* No finite error to report, as for tiny softmax references: bad counts it. */
                    err = 0.0;
                    ok = got == -INFINITY;
                } else {
                    double ref = v - log_sum;
                    err = fabs(got - ref) / fmax(1.0, fabs(ref));
                    ok = err <= tol;
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

check_result check_backward(clsm_op op, clsm_shape s, float scale, const clsm_options *opt,
                            const float *x, const float *y, const float *dy, const float *dx)
{
    check_result r = {0.0, 0};
    const double sc = fabs((double)scale);
    for (size_t o = 0; o < s.outer; o++) {
        for (size_t i = 0; i < s.inner; i++) {
            size_t base = o * s.axis * s.inner + i;
            /* sum: the contract's sum (zero factors from y count as 0); mag: the sum of the
             * magnitudes of its terms, which bounds the error it carries into every dx_j. */
            double sum = 0.0, mag = 0.0;
            int has_nan = 0;
            for (size_t k = 0; k < s.axis; k++) {
                double yk = y[base + k * s.inner], dyk = dy[base + k * s.inner];
                has_nan |= isnan(yk) || isnan(dyk);
                double t = op == CLSM_SOFTMAX ? (yk == 0.0 ? 0.0 : yk * dyk) : dyk;
                sum += t;
                mag += fabs(t);
            }
            for (size_t k = 0; k < s.axis; k++) {
                size_t at = base + k * s.inner;
                double yk = y[at], dyk = dy[at], got = dx[at], ref, bound;
                if (op == CLSM_SOFTMAX) {
                    ref = yk == 0.0 || scale == 0.0f ? 0.0 : scale * yk * (dyk - sum);
                    bound = sc * fabs(yk) * (fabs(dyk) + mag);
                } else {
                    double e = exp(yk);
                    ref = scale == 0.0f ? 0.0 : scale * (dyk - (e == 0.0 ? 0.0 : e * sum));
                    bound = sc * (fabs(dyk) + e * mag);
                }
                if (opt && opt->softcap > 0) {
                    double t = tanh((double)scale * x[at] / opt->softcap);
                    ref *= 1 - t * t;
                    bound *= 1 - t * t;
                }
                /* The options mask only where inner = 1, so slice o is row o. */
                int masked_out = opt && isinf(masked(opt, s.outer, o, k, 0.0f));
                if (masked_out)
                    ref = bound = 0.0;
                double diff = fabs(got - ref);
                int ok = has_nan       ? isnan(got)
                         : masked_out ? got == 0.0 && !signbit(got)
                                      : diff <= TOL * bound + BACKWARD_FLOOR * (sc + 1);
                if (!ok)
                    r.bad++;
                if (!has_nan && bound > 0.0 && diff / bound > r.max_err)
                    r.max_err = diff / bound;
            }
        }
    }
    return r;
}
