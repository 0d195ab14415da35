/* gradkit random-number kernels (see gradkit.h for the conventions and philox.h for
 * the generator and its stream of 32-bit words).
 *
 * Every function fills n values from the word stream of `seed` starting at word
 * `counter`; it reads words counter .. counter + gk_random_words_*(n) - 1 and its
 * output depends only on (seed, counter, n) -- never on the thread count.  The caller
 * advances its counter by that many words.  Per element i:
 *   bits32        word counter + i
 *   uniform_f32   a = word counter + i: u = (a >> 8) 2**-24 (24 bits)
 *   uniform_f64   a, b = words counter + 2i, + 2i + 1: u = ((a >> 5) 2**26 + (b >> 6)) 2**-53
 *                 value low + (high - low) u, in [low, high) (a rounding onto high
 *                 is replaced by the largest value below it)
 *   normal_f32    pair p = i / 2 uses words counter + 2p, + 2p + 1 (a, b):
 *                 u1 = ((a >> 8) + 1) 2**-24 in (0, 1], u2 = (b >> 8) 2**-24,
 *                 element 2p = r cos(2 pi u2), 2p+1 = r sin(2 pi u2), r = sqrt(-2 ln u1)
 *   normal_f64    pair p uses words counter + 4p .. + 4p + 3: u1 from the first two
 *                 (53 bits as uniform_f64, + 2**-53 so u1 in (0, 1]), u2 from the next two
 *   trunc_normal  uniform u in (0, 1) (f32: (a + 1/2) 2**-32 from word counter + i;
 *                 f64: (53-bit value + 1/2) 2**-53 from words counter + 2i, + 2i + 1),
 *                 then x = Phi^-1(Phi(a') + u (Phi(b') - Phi(a'))), a' = (a - mean)/std,
 *                 b' likewise, y = mean + std x, in double (f64: Acklam's approximation
 *                 refined by one Halley step; f32: Acklam's, 1e-9 relative).  When
 *                 a' > 0 the draw is made on [-b', -a'] and negated (small tail
 *                 probabilities keep their precision).
 *   integers      range r = high - low: r <= 2**32 one word per element (counter + i),
 *                 else two (counter + 2i, + 2i + 1, the first the low half); Lemire's
 *                 multiply-shift with rejection, unbiased.  The t-th retry of element i
 *                 reads the block with counter (lo32(w/4), hi32(w/4), t, 0), w its first
 *                 word, words w % 4 (and (w + 1) % 4).
 */
#ifndef GRADKIT_RANDOM_H
#define GRADKIT_RANDOM_H
#include <stdint.h>
#include "gradkit/common.h"
#include "gradkit/philox.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Words of the stream each function consumes for n elements. */
uint64_t gk_random_words_f32(gk_index n);      /* uniform_f32, trunc_normal_f32, bits32 */
uint64_t gk_random_words_f64(gk_index n);      /* uniform_f64, trunc_normal_f64 */
uint64_t gk_random_words_normal_f32(gk_index n);
uint64_t gk_random_words_normal_f64(gk_index n);
uint64_t gk_random_words_integers(gk_index n, uint64_t range);

int gk_random_bits32(uint32_t *out, gk_index n, uint64_t seed, uint64_t counter);
/* low <= high, both finite and (high - low) finite; else GK_EVALUE */
int gk_random_uniform_f32(float *out, gk_index n, double low, double high, uint64_t seed,
                          uint64_t counter);
int gk_random_uniform_f64(double *out, gk_index n, double low, double high, uint64_t seed,
                          uint64_t counter);
/* std >= 0 and finite, mean finite */
int gk_random_normal_f32(float *out, gk_index n, double mean, double std, uint64_t seed,
                         uint64_t counter);
int gk_random_normal_f64(double *out, gk_index n, double mean, double std, uint64_t seed,
                         uint64_t counter);
/* std > 0, a <= b (absolute bounds) */
int gk_random_trunc_normal_f32(float *out, gk_index n, double mean, double std, double a,
                               double b, uint64_t seed, uint64_t counter);
int gk_random_trunc_normal_f64(double *out, gk_index n, double mean, double std, double a,
                               double b, uint64_t seed, uint64_t counter);
/* values in [low, low + range) (wrapping in 64 bits); range 0 means 2**64 */
int gk_random_integers(int64_t *out, gk_index n, int64_t low, uint64_t range, uint64_t seed,
                       uint64_t counter);
/* out[0..n) = value rounded to the element type (the constant fills of gradkit.init;
 * no stream words) */
int gk_fill_f32(float *out, gk_index n, double value);
int gk_fill_f64(double *out, gk_index n, double value);
/* out = the rows x cols identity (C order): 1 at (i, i) for i < min(rows, cols), 0
 * elsewhere (gradkit.init.eye), in one pass of stores */
int gk_fill_eye_f32(float *out, gk_index rows, gk_index cols);
int gk_fill_eye_f64(double *out, gk_index rows, gk_index cols);
/* q (rows x cols, C order, rows >= cols) = gain H_0 H_1 ... H_{cols-1} [I; 0] diag(d),
 * a Haar-distributed matrix with orthonormal columns times gain (gradkit.init.orthogonal):
 * reflector k is built from a[k:, k] of the standard normal draws a (rows x cols, C
 * order; overwritten: on return its lower trapezoid holds the reflectors, zeros above),
 * v = x + s ||x|| e_0 with s = sign(x_0) (+1 for 0), H_k = I - 2 v v^T / v^T v, and
 * d_k = -s (H_k = I and d_k = +1 for an all-zero x).  Formed by panels of 64 reflectors
 * applied as I - V T V^T through blas->dgemm on tiles of 128 columns of q in parallel;
 * the BLAS must run on one thread, and the bits then do not depend on the thread
 * count.  rows, cols < 2**30. */
int gk_orthogonal_f64(double *a, gk_index rows, gk_index cols, double gain, double *q,
                      const gk_blas_fns *blas);

#ifdef __cplusplus
}
#endif
#endif
