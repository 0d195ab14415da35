# Declarations of include/gradkit/random.h and philox.h for the Cython wrappers.
from libc.stdint cimport uint32_t, uint64_t, int64_t
from _cgradkit cimport gk_index

cdef extern from "gradkit/philox.h" nogil:
    void gk_philox4x32_10(const uint32_t *ctr, const uint32_t *key, uint32_t *out)

cdef extern from "gradkit/random.h" nogil:
    uint64_t gk_random_words_f32(gk_index n)
    uint64_t gk_random_words_f64(gk_index n)
    uint64_t gk_random_words_normal_f32(gk_index n)
    uint64_t gk_random_words_normal_f64(gk_index n)
    uint64_t gk_random_words_integers(gk_index n, uint64_t range)
    int gk_random_bits32(uint32_t *out, gk_index n, uint64_t seed, uint64_t counter)
    int gk_random_uniform_f32(float *out, gk_index n, double low, double high, uint64_t seed,
                              uint64_t counter)
    int gk_random_uniform_f64(double *out, gk_index n, double low, double high, uint64_t seed,
                              uint64_t counter)
    int gk_random_normal_f32(float *out, gk_index n, double mean, double std, uint64_t seed,
                             uint64_t counter)
    int gk_random_normal_f64(double *out, gk_index n, double mean, double std, uint64_t seed,
                             uint64_t counter)
    int gk_random_trunc_normal_f32(float *out, gk_index n, double mean, double std, double a,
                                   double b, uint64_t seed, uint64_t counter)
    int gk_random_trunc_normal_f64(double *out, gk_index n, double mean, double std, double a,
                                   double b, uint64_t seed, uint64_t counter)
    int gk_random_integers(int64_t *out, gk_index n, int64_t low, uint64_t range, uint64_t seed,
                           uint64_t counter)
