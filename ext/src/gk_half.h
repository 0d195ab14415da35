/* 16-bit storage types (float16, bfloat16): the one place where they are converted to
 * and from float32, for every family and every ISA build.  Not installed.
 *
 * The arithmetic of a 16-bit kernel is float32: a 16-bit input is widened exactly, the
 * float32 result is rounded once, to nearest even, with the bits NumPy's and ml_dtypes'
 * astype give (tests/test_half.py checks all 65,536 patterns both ways):
 *   float16 <- float32  overflow to inf, float16 subnormals rounded as any value; a NaN
 *                       keeps its sign and the top 10 bits of its payload (1 if those
 *                       are all 0), the quiet bit untouched (NumPy's rule);
 *   float32 <- float16  exact; a NaN's payload is shifted up, the quiet bit untouched;
 *   bfloat16 <- float32 the top half of the bits, rounded to nearest even; a NaN gives
 *                       the quiet NaN 0x7fc0 with its sign (ml_dtypes' rule);
 *   float32 <- bfloat16 exact (the bits shifted up).
 * Scalars: gk_f16_to_f32 & co.  Vectors of GK_HLEN elements (GK_TVBYTES of float32, the
 * width the float32 templates use): gk_ld_f16v / gk_st_f16v (F16C vcvtph2ps / vcvtps2ph
 * on the AVX2 and AVX-512 builds, with NaN lanes redone by the portable formulas because
 * F16C sets the quiet bit where NumPy keeps it), gk_ld_bf16v / gk_st_bf16v (integer
 * shifts and rounding, which each ISA build compiles to its own vector instructions;
 * on a CPU with AVX512_BF16 the AVX-512 build rounds by vcvtne2ps2bf16 instead, see
 * gk_bf16_hw_ok).
 * The portable formulas are written once, on vectors (the scalar versions are one lane of
 * them), so every path gives the same bits.  GK_HALF_PATH names the path of this build. */
#ifndef GK_HALF_H
#define GK_HALF_H
#include <stdint.h>
#include "reduce.h"

typedef float gk_hf __attribute__((vector_size(GK_TVBYTES)));
typedef uint32_t gk_hu __attribute__((vector_size(GK_TVBYTES)));
typedef int32_t gk_hi __attribute__((vector_size(GK_TVBYTES)));
typedef uint16_t gk_hs __attribute__((vector_size(GK_TVBYTES / 2)));
#define GK_HLEN ((int)(GK_TVBYTES / 4))

#if defined(__AVX512F__) && defined(__F16C__)
#define GK_HALF_PATH "avx512: float16 by vcvtph2ps/vcvtps2ph (zmm), bfloat16 by AVX-512 integer rounding"
#if defined(__AVX512BF16__)
#define GK_HALF_PATH_HW_BF16 "avx512_bf16: float16 by vcvtph2ps/vcvtps2ph (zmm), bfloat16 by vcvtne2ps2bf16 (vectors holding a NaN or a subnormal: AVX-512 integer rounding)"
#endif
#elif defined(__F16C__)
#define GK_HALF_PATH "avx2: float16 by F16C vcvtph2ps/vcvtps2ph (ymm), bfloat16 by AVX2 integer rounding"
#else
#define GK_HALF_PATH "portable: float16 and bfloat16 by integer rounding (SSE2 / scalar)"
#endif

/* m ? a : b, lane by lane (m: all ones or zeros per lane) */
GK_INLINE gk_hu gk_hsel(gk_hi m, gk_hu a, gk_hu b)
{
    return (a & (gk_hu)m) | (b & ~(gk_hu)m);
}

/* ---- the portable formulas (vectors) ----------------------------------------------- */
/* float16 -> float32.  Normal numbers: exponent rebiased by 112; inf/NaN: exponent all
 * ones, payload shifted; zero/subnormal m 2^-24: (2^-14 + m 2^-24) - 2^-14 in float32,
 * exact. */
GK_INLINE gk_hf gk_f16v_to_f32_portable(gk_hs h)
{
    const gk_hu u = __builtin_convertvector(h, gk_hu);
    const gk_hu sign = (u & 0x8000u) << 16;
    gk_hu o = (u & 0x7fffu) << 13;
    const gk_hu e = o & 0x0f800000u;
    o += (gk_hu){0} + (112u << 23);
    o = gk_hsel(e == 0x0f800000u, o + (112u << 23), o);       /* inf, NaN */
    gk_hf sub = (gk_hf)(o + (1u << 23)) - 0x1p-14f;           /* zero, subnormal */
    o = gk_hsel(e == 0u, (gk_hu)sub, o);
    return (gk_hf)(o | sign);
}

/* float32 -> float16, to nearest even.  |f| >= 2^16: inf, or NaN (NumPy's payload
 * rule); |f| < 2^-14 (float16 subnormals): |f| + 0.5 rounds at 2^-24, the float16
 * quantum there, and its low bits are the result; otherwise the exponent is rebiased
 * and the 13 dropped bits rounded (ties to the even mantissa; a carry into the
 * exponent is right, up to inf). */
GK_INLINE gk_hs gk_f32v_to_f16_portable(gk_hf f)
{
    const gk_hu b = (gk_hu)f;
    const gk_hu sign = (b >> 16) & 0x8000u;
    const gk_hu u = b & 0x7fffffffu;
    const gk_hu odd = (u >> 13) & 1u;
    const gk_hu nrm = (u + 0xc8000fffu + odd) >> 13;          /* 0xc8000fff = -112 << 23 + 0xfff */
    const gk_hu sub = (gk_hu)((gk_hf)u + 0.5f) - (126u << 23);
    gk_hu pay = (u & 0x7fffffu) >> 13;
    pay = gk_hsel(pay == 0u, pay + 1u, pay);
    const gk_hu big = gk_hsel(u > 0x7f800000u, 0x7c00u | pay, (gk_hu){0} + 0x7c00u);
    gk_hu r = gk_hsel(u < (113u << 23), sub, nrm);
    r = gk_hsel(u >= 0x47800000u, big, r);
    return __builtin_convertvector(r | sign, gk_hs);
}

/* bfloat16 -> float32: the bits shifted up.  Zero-extension and a shift (vpmovzxwd +
 * vpslld), or on SSE2 an interleave with zeros, spelled out where the build has them */
GK_INLINE gk_hf gk_bf16v_to_f32(gk_hs h)
{
#if GK_TVBYTES == 64 && defined(__AVX512F__)
    return (gk_hf)_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h), 16);
#elif GK_TVBYTES == 32 && defined(__AVX2__)
    return (gk_hf)_mm256_slli_epi32(_mm256_cvtepu16_epi32((__m128i)h), 16);
#elif GK_TVBYTES == 16 && defined(__SSE2__) && defined(__x86_64__)
    long long w;
    __builtin_memcpy(&w, &h, sizeof w);
    return (gk_hf)_mm_unpacklo_epi16(_mm_setzero_si128(), _mm_cvtsi64_si128(w));
#else
    return (gk_hf)(__builtin_convertvector(h, gk_hu) << 16);
#endif
}

/* the high 16 bits of every lane of r, packed (signed saturation of the sign-extended
 * halves, which they all fit: exact) */
GK_INLINE gk_hs gk_hpack_hi(gk_hu r)
{
#if GK_TVBYTES == 64 && defined(__AVX512F__)
    return (gk_hs)_mm512_cvtepi32_epi16(_mm512_srli_epi32((__m512i)r, 16));
#elif GK_TVBYTES == 32 && defined(__AVX2__)
    const __m256i t = _mm256_srai_epi32((__m256i)r, 16);
    return (gk_hs)_mm_packs_epi32(_mm256_castsi256_si128(t),
                                  _mm256_extracti128_si256(t, 1));
#elif GK_TVBYTES == 16 && defined(__SSE2__) && defined(__x86_64__)
    const __m128i t = _mm_srai_epi32((__m128i)r, 16);
    const long long w = _mm_cvtsi128_si64(_mm_packs_epi32(t, t));
    gk_hs h;
    __builtin_memcpy(&h, &w, sizeof h);
    return h;
#else
    return __builtin_convertvector(r >> 16, gk_hs);
#endif
}

/* float32 -> bfloat16, in the high half of each 32-bit lane: add 0x7fff + (the kept
 * part's lowest bit), to nearest even (a carry into the exponent is right, up to inf);
 * NaN -> 0x7fc0 | sign.  The NaN lanes are picked by one blend where the ISA has it. */
/* the rounding alone, for lanes known not to be NaN */
GK_INLINE gk_hu gk_bf16_round_hi_nonan(gk_hu b)
{
    return b + 0x7fffu + ((b >> 16) & 1u);
}

GK_INLINE gk_hu gk_bf16_round_hi(gk_hf f)
{
    const gk_hu b = (gk_hu)f;
    const gk_hu r = gk_bf16_round_hi_nonan(b);
    const gk_hu nan = (b & 0x80000000u) | 0x7fc00000u;
#if GK_TVBYTES == 64 && defined(__AVX512F__)
    return (gk_hu)_mm512_mask_blend_epi32(_mm512_cmp_ps_mask((__m512)f, (__m512)f, _CMP_UNORD_Q),
                                          (__m512i)r, (__m512i)nan);
#elif GK_TVBYTES == 32 && defined(__AVX__)
    return (gk_hu)_mm256_blendv_ps((__m256)r, (__m256)nan,
                                   _mm256_cmp_ps((__m256)f, (__m256)f, _CMP_UNORD_Q));
#else
    return gk_hsel(f != f, nan, r);
#endif
}

/* gk_bf16_round_hi of two vectors.  One compare finds whether either holds a NaN (on
 * AVX and AVX-512: unordered a, b); without one, the rounding is the four integer
 * operations alone (on AVX-512 the NaN-free pair took a bfloat16 LayerNorm forward
 * 1.11-1.13x faster, Intel Xeon),
 * so a pair costs 11 instructions instead of 16. */
GK_INLINE void gk_bf16_round_hi2(gk_hf a, gk_hf b, gk_hu *ra, gk_hu *rb)
{
#if GK_TVBYTES == 64 && defined(__AVX512F__)
    const int nan_free = _mm512_cmp_ps_mask((__m512)a, (__m512)b, _CMP_UNORD_Q) == 0;
#elif GK_TVBYTES == 32 && defined(__AVX__)
    const int nan_free =
        _mm256_movemask_ps(_mm256_cmp_ps((__m256)a, (__m256)b, _CMP_UNORD_Q)) == 0;
#else
    const int nan_free = 0;  /* no one-instruction test: the blend of each vector */
#endif
    if (__builtin_expect(nan_free, 1)) {
        *ra = gk_bf16_round_hi_nonan((gk_hu)a);
        *rb = gk_bf16_round_hi_nonan((gk_hu)b);
        return;
    }
    *ra = gk_bf16_round_hi(a);
    *rb = gk_bf16_round_hi(b);
}

/* ---- bfloat16 rounding by AVX512_BF16 ----------------------------------------------
 * vcvtne2ps2bf16 / vcvtneps2bf16 round float32 to bfloat16 to nearest even, as the
 * integer formula, in one instruction for 32 (16) lanes -- except that they flush
 * subnormals to zero and give a NaN its own payload where ml_dtypes gives 0x7fc0.  So
 * they round only vectors with neither (vfpclassps, one instruction a vector); others
 * take the integer formula.  Under MXCSR.DAZ (a user's torch.set_flush_denormal(True))
 * vfpclassps calls a subnormal a zero, so a thread with DAZ set takes the integer
 * formula throughout (gk_bf16_daz_off: the class of a subnormal constant).  The AVX-512
 * build is compiled with the extension (ext/meson.build) but runs it only when
 * gk_bf16_hw_flag says the CPU has it and GRADKIT_SIMD allows it (level avx512_bf16). */
#if GK_TVBYTES == 64 && defined(__AVX512BF16__) && defined(__AVX512BW__)
#define GK_HW_BF16 1
/* vfpclassps classes: QNaN 0x01, denormal 0x20, SNaN 0x80 */
#define GK_BF16_SPECIAL 0xA1

/* this thread's MXCSR.DAZ is clear: vfpclassps sees the smallest subnormal as one.  The
 * empty asm keeps the compiler from folding the class of a constant (as if DAZ were
 * clear); it is loop-invariant, so a loop asks once. */
GK_INLINE int gk_bf16_daz_off(void)
{
    __m512 d = _mm512_castsi512_ps(_mm512_set1_epi32(1));
    __asm__("" : "+v"(d));
    return _mm512_fpclass_ps_mask(d, 0x20) != 0;
}

/* a variable, not a call: a call in a loop costs the vector registers live across it
 * (all caller-saved), and GCC does not hoist even a const one.  One L1 load and a
 * predictable branch per use. */
GK_INLINE int gk_bf16_hw_on(void)
{
    return __atomic_load_n(&gk_bf16_hw_flag, __ATOMIC_RELAXED) != 0 && gk_bf16_daz_off();
}

/* the vectors hold no NaN and no subnormal: the instructions give the integer bits */
GK_INLINE int gk_bf16_hw_ok2(gk_hf a, gk_hf b)
{
    /* kortestw on the two masks: or-ing them as integers cost two kmovw and an or */
    return gk_bf16_hw_on()
           && _kortestz_mask16_u8(_mm512_fpclass_ps_mask((__m512)a, GK_BF16_SPECIAL),
                                  _mm512_fpclass_ps_mask((__m512)b, GK_BF16_SPECIAL));
}

GK_INLINE int gk_bf16_hw_ok(gk_hf a)
{
    return gk_bf16_hw_on() && _mm512_fpclass_ps_mask((__m512)a, GK_BF16_SPECIAL) == 0;
}
#else
#define GK_HW_BF16 0
#endif

/* float32 -> bfloat16: the rounded lanes, one pack */
GK_INLINE gk_hs gk_f32v_to_bf16(gk_hf f)
{
#if GK_HW_BF16
    if (__builtin_expect(gk_bf16_hw_ok(f), 1))
        return (gk_hs)_mm512_cvtneps_pbh((__m512)f);
#endif
    return gk_hpack_hi(gk_bf16_round_hi(f));
}

/* ---- scalars: one lane of the vectors --------------------------------------------- */
GK_INLINE float gk_f16_to_f32(uint16_t h)
{
    gk_hs v = {0};
    v[0] = h;
    return gk_f16v_to_f32_portable(v)[0];
}

GK_INLINE uint16_t gk_f32_to_f16(float f)
{
    gk_hf v = {0};
    v[0] = f;
    return gk_f32v_to_f16_portable(v)[0];
}

GK_INLINE float gk_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}

GK_INLINE uint16_t gk_f32_to_bf16(float f)
{
    gk_hf v = {0};
    v[0] = f;
    return gk_f32v_to_bf16(v)[0];
}

/* ---- vectors of GK_HLEN elements from / to memory (unaligned) ----------------------- */
GK_INLINE gk_hs gk_ld_hs(const uint16_t *p)
{
    gk_hs h;
    __builtin_memcpy(&h, p, sizeof h);
    return h;
}

GK_INLINE gk_hf gk_ld_bf16v(const uint16_t *p) { return gk_bf16v_to_f32(gk_ld_hs(p)); }

GK_INLINE void gk_st_bf16v(uint16_t *p, gk_hf v)
{
    gk_hs h = gk_f32v_to_bf16(v);
    __builtin_memcpy(p, &h, sizeof h);
}

/* float16 through F16C where the build has it; a vector holding a NaN (rare) is redone
 * by the portable formula, so the NaN bits are NumPy's. */
GK_INLINE gk_hf gk_ld_f16v(const uint16_t *p)
{
#if defined(__AVX512F__) && defined(__F16C__)
    __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
    if (__builtin_expect(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) != 0, 0))
        return gk_f16v_to_f32_portable(gk_ld_hs(p));
    return (gk_hf)v;
#elif defined(__F16C__)
    __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
    if (__builtin_expect(_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0, 0))
        return gk_f16v_to_f32_portable(gk_ld_hs(p));
    return (gk_hf)v;
#else
    return gk_f16v_to_f32_portable(gk_ld_hs(p));
#endif
}

GK_INLINE gk_hs gk_f32v_to_f16(gk_hf v)
{
#if defined(__AVX512F__) && defined(__F16C__)
    if (__builtin_expect(_mm512_cmp_ps_mask((__m512)v, (__m512)v, _CMP_UNORD_Q) != 0, 0))
        return gk_f32v_to_f16_portable(v);
    return (gk_hs)_mm512_cvtps_ph((__m512)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#elif defined(__F16C__)
    if (__builtin_expect(_mm256_movemask_ps(_mm256_cmp_ps((__m256)v, (__m256)v,
                                                          _CMP_UNORD_Q)) != 0, 0))
        return gk_f32v_to_f16_portable(v);
    return (gk_hs)_mm256_cvtps_ph((__m256)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
    return gk_f32v_to_f16_portable(v);
#endif
}

GK_INLINE void gk_st_f16v(uint16_t *p, gk_hf v)
{
    gk_hs h = gk_f32v_to_f16(v);
    __builtin_memcpy(p, &h, sizeof h);
}

/* two vectors, a then b (2 GK_HLEN elements at p): the same bits as two gk_st_bf16v /
 * gk_st_f16v / gk_ld_f16v, for the loops that go two vectors at a time.  AVX2 and
 * AVX-512: the two bfloat16 roundings share one pack and one store; float16 checks both
 * for NaN at once. */
#if GK_TVBYTES == 64 && defined(__AVX512BW__)
/* a then b rounded to bfloat16, a in the low half: the 64 bytes gk_st_bf16v2 stores */
GK_INLINE __m512i gk_bf16v2_pack(gk_hf a, gk_hf b)
{
#if GK_HW_BF16
    if (__builtin_expect(gk_bf16_hw_ok2(a, b), 1))
        return (__m512i)_mm512_cvtne2ps_pbh((__m512)b, (__m512)a);
#endif
    /* the high words of both, in order, by one two-source word permute: a shift and a
     * vpmovdw (two uops) per vector were the store's largest part */
    gk_hu ra, rb;
    gk_bf16_round_hi2(a, b, &ra, &rb);
    const __m512i odd = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39,
                                         37, 35, 33, 31, 29, 27, 25, 23, 21, 19, 17, 15, 13,
                                         11, 9, 7, 5, 3, 1);
    return _mm512_permutex2var_epi16((__m512i)ra, odd, (__m512i)rb);
}
#endif

GK_INLINE void gk_st_bf16v2(uint16_t *p, gk_hf a, gk_hf b)
{
#if GK_TVBYTES == 64 && defined(__AVX512BW__)
    _mm512_storeu_si512((void *)p, gk_bf16v2_pack(a, b));
#elif GK_TVBYTES == 32 && defined(__AVX2__)
    gk_hu ra, rb;
    gk_bf16_round_hi2(a, b, &ra, &rb);
    const __m256i ha = _mm256_srli_epi32((__m256i)ra, 16);
    const __m256i hb = _mm256_srli_epi32((__m256i)rb, 16);
    /* packus interleaves the two by 128-bit lane: a0 b0 a1 b1 -> a0 a1 b0 b1 */
    const __m256i pk = _mm256_permute4x64_epi64(_mm256_packus_epi32(ha, hb), 0xd8);
    _mm256_storeu_si256((__m256i *)(void *)p, pk);
#else
    gk_st_bf16v(p, a);
    gk_st_bf16v(p + GK_HLEN, b);
#endif
}

GK_INLINE void gk_st_f16v2(uint16_t *p, gk_hf a, gk_hf b)
{
#if GK_TVBYTES == 32 && defined(__F16C__) && !defined(__AVX512F__)
    const __m256 nan = _mm256_or_ps(_mm256_cmp_ps((__m256)a, (__m256)a, _CMP_UNORD_Q),
                                    _mm256_cmp_ps((__m256)b, (__m256)b, _CMP_UNORD_Q));
    if (__builtin_expect(_mm256_movemask_ps(nan) == 0, 1)) {
        _mm_storeu_si128((__m128i *)(void *)p,
                         _mm256_cvtps_ph((__m256)a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        _mm_storeu_si128((__m128i *)(void *)(p + GK_HLEN),
                         _mm256_cvtps_ph((__m256)b, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        return;
    }
#endif
    gk_st_f16v(p, a);
    gk_st_f16v(p + GK_HLEN, b);
}

GK_INLINE void gk_ld_f16v2(const uint16_t *p, gk_hf *a, gk_hf *b)
{
#if GK_TVBYTES == 32 && defined(__F16C__) && !defined(__AVX512F__)
    const __m256 va = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
    const __m256 vb = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + GK_HLEN)));
    const __m256 nan = _mm256_or_ps(_mm256_cmp_ps(va, va, _CMP_UNORD_Q),
                                    _mm256_cmp_ps(vb, vb, _CMP_UNORD_Q));
    if (__builtin_expect(_mm256_movemask_ps(nan) == 0, 1)) {
        *a = (gk_hf)va;
        *b = (gk_hf)vb;
        return;
    }
#endif
    *a = gk_ld_f16v(p);
    *b = gk_ld_f16v(p + GK_HLEN);
}

/* float16 <-> float32 for values that go through float32 arithmetic: F16C alone, no NaN
 * check.  F16C differs from NumPy only on NaNs, and only in the quiet bit: widening sets
 * it (NumPy keeps a signaling NaN signaling), narrowing a signaling NaN sets it.  A value
 * loaded here is an operand of float32 arithmetic before anything is stored or compared,
 * and that arithmetic quiets a signaling NaN and keeps its payload either way (an SSE/AVX
 * operation on NaNs returns its first NaN operand, quieted, signaling or not); a value
 * stored here is the result of arithmetic, a quiet NaN, which F16C and NumPy narrow
 * alike.  So the bits are those of the exact conversions, for a kernel that keeps to
 * that; one that copies or selects a loaded value into its output uses the exact ones
 * (gk_ld_f16v, gk_st_f16v). */
GK_INLINE gk_hf gk_ld_f16v_arith(const uint16_t *p)
{
#if defined(__AVX512F__) && defined(__F16C__)
    return (gk_hf)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
#elif defined(__F16C__)
    return (gk_hf)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
#else
    return gk_f16v_to_f32_portable(gk_ld_hs(p));
#endif
}

GK_INLINE gk_hs gk_f32v_to_f16_arith(gk_hf v)
{
#if defined(__AVX512F__) && defined(__F16C__)
    return (gk_hs)_mm512_cvtps_ph((__m512)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#elif defined(__F16C__)
    return (gk_hs)_mm256_cvtps_ph((__m256)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
    return gk_f32v_to_f16_portable(v);
#endif
}

/* a vector of 16-bit storage at p (aligned to its size) with a non-temporal store where
 * the ISA has one (the caller fences) */
GK_INLINE void gk_stream_hs(uint16_t *p, gk_hs h)
{
#if defined(__AVX512F__)
    _mm256_stream_si256((__m256i *)(void *)p, (__m256i)h);
#elif defined(__AVX__)
    _mm_stream_si128((__m128i *)(void *)p, (__m128i)h);
#elif defined(__SSE2__) && defined(__x86_64__)
    long long w;
    __builtin_memcpy(&w, &h, sizeof w);
    _mm_stream_si64((long long *)(void *)p, w);
#else
    __builtin_memcpy(p, &h, sizeof h);
#endif
}

/* 2 GK_HLEN bfloat16 at p as two float32 vectors in even/odd order: *ev holds elements
 * 0, 2, 4, ..., *od elements 1, 3, 5, ...  Each 32-bit word of the storage holds one of
 * each (x86 is little-endian: the even element in the low half), so widening is one
 * shift or one mask per vector, and narrowing one mask, one shift and one or per pair,
 * with no pack or lane shuffle.  For element-wise loops whose every array is bfloat16,
 * read and written in this same order. */
GK_INLINE void gk_ld_bf16v2_eo(const uint16_t *p, gk_hf *ev, gk_hf *od)
{
    gk_hu w;
    __builtin_memcpy(&w, p, sizeof w);
    *ev = (gk_hf)(w << 16);
    *od = (gk_hf)(w & 0xffff0000u);
}

GK_INLINE void gk_st_bf16v2_eo(uint16_t *p, gk_hf ev, gk_hf od)
{
#if GK_HW_BF16
    if (__builtin_expect(gk_bf16_hw_ok2(ev, od), 1)) {
        /* rounded as [ev | od], then interleaved by one word permute */
        const __m512i il = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10,
                                            25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19,
                                            3, 18, 2, 17, 1, 16, 0);
        const __m512bh r = _mm512_cvtne2ps_pbh((__m512)od, (__m512)ev);
        _mm512_storeu_si512((void *)p, _mm512_permutexvar_epi16(il, (__m512i)r));
        return;
    }
#endif
    gk_hu re, ro;
    gk_bf16_round_hi2(ev, od, &re, &ro);
    const gk_hu w = (ro & 0xffff0000u) | (re >> 16);
    __builtin_memcpy(p, &w, sizeof w);
}

/* ---- two vectors of a storage kind (GK_DTYPE_F32, _F16, _BF16) at p ------------------
 * For the fused loops that read and write arrays of several storages (the optimizers'
 * mixed-precision steps): `kind` is a compile-time constant where they are instantiated,
 * so each call folds to its storage's code.  Loads are for arithmetic (the _arith rule
 * above: every loaded value is an operand of float32 arithmetic before anything is
 * stored); stores round as gk_st_bf16v2 / gk_f32v_to_f16_arith (values computed by
 * arithmetic). */
#define GK_KIND_BF16_EO 0x103  /* bfloat16 in even/odd order, when every array is bfloat16 */

GK_INLINE void gk_ld2_arith(const int kind, const void *p, gk_hf *a, gk_hf *b)
{
    const uint16_t *h = (const uint16_t *)p;
    if (kind == GK_KIND_BF16_EO) {
        gk_ld_bf16v2_eo(h, a, b);
    } else if (kind == GK_DTYPE_BF16) {
        *a = gk_ld_bf16v(h);
        *b = gk_ld_bf16v(h + GK_HLEN);
    } else if (kind == GK_DTYPE_F16) {
        *a = gk_ld_f16v_arith(h);
        *b = gk_ld_f16v_arith(h + GK_HLEN);
    } else {
        __builtin_memcpy(a, p, sizeof *a);
        __builtin_memcpy(b, (const float *)p + GK_HLEN, sizeof *b);
    }
}

GK_INLINE void gk_st2_arith(const int kind, void *p, gk_hf a, gk_hf b)
{
    uint16_t *h = (uint16_t *)p;
    if (kind == GK_KIND_BF16_EO) {
        gk_st_bf16v2_eo(h, a, b);
    } else if (kind == GK_DTYPE_BF16) {
        gk_st_bf16v2(h, a, b);
    } else if (kind == GK_DTYPE_F16) {
        const gk_hs ha = gk_f32v_to_f16_arith(a), hb = gk_f32v_to_f16_arith(b);
        __builtin_memcpy(h, &ha, sizeof ha);
        __builtin_memcpy(h + GK_HLEN, &hb, sizeof hb);
    } else {
        __builtin_memcpy(p, &a, sizeof a);
        __builtin_memcpy((float *)p + GK_HLEN, &b, sizeof b);
    }
}

/* the element size of a storage kind */
#define GK_KIND_BYTES(kind) ((kind) == GK_DTYPE_F32 ? 4 : 2)  /* GK_KIND_BF16_EO: 2 */

/* correctly rounded square root of each lane (as sqrtf) */
GK_INLINE gk_hf gk_hsqrt(gk_hf x)
{
#if GK_TVBYTES == 64 && defined(__AVX512F__)
    return (gk_hf)_mm512_sqrt_ps((__m512)x);
#elif GK_TVBYTES == 32 && defined(__AVX__)
    return (gk_hf)_mm256_sqrt_ps((__m256)x);
#elif GK_TVBYTES == 16 && defined(__SSE2__)
    return (gk_hf)_mm_sqrt_ps((__m128)x);
#else
    for (int l = 0; l < GK_HLEN; ++l) x[l] = __builtin_sqrtf(x[l]);
    return x;
#endif
}

/* ---- x / c for a constant c, correctly rounded, without the divider -------------------
 * With c = 2^k c1, c1 in [1, 2), and y1 = 1 / c1 rounded: x1 = x 2^-k (exact), q = x1 y1
 * rounded, then twice q -= (q c1 - x1) y1 (fused multiply-adds; the remainder q c1 - x1
 * is exact).  Markstein's theorem: once q is within an ulp of x1 / c1, one such step
 * rounds correctly; the first brings q0 (within 1.5 ulps) there.  So every lane whose x1
 * is 0 or of magnitude in [2^-99, 2^99] (the quotient and remainder then stay normal)
 * gets the bits of x / c; a vector with any other lane (tiny, huge, infinite, NaN) is
 * divided instead, as is every vector when c is not a positive normal number with |k|
 * <= 60.  On the Intel Xeon guest a 512-bit division issues about every 10 cycles, a
 * fused multiply-add two per cycle: pure bfloat16 AdamW's step (two divisions and a
 * root per element) took 5.27-5.62 -> 4.39-4.70 ms with it (16M, 2 threads, in L3).
 * Used on the AVX2 and AVX-512 tables (fused multiply-adds); elsewhere it divides. */
typedef struct {
    float c, c1, y1, s;   /* c, its significand c1, 1 / c1 rounded, 2^-k */
    int fma;              /* 0: divide */
} gk_hdivc;

static inline gk_hdivc gk_hdivc_init(float c)
{
    gk_hdivc d = {c, 1.0f, 1.0f, 1.0f, 0};
#if defined(__FMA__) || defined(__AVX512F__)
    if (c > 0.0f && c <= 0x1p60f && c >= 0x1p-60f) {
        int k = ilogbf(c);
        d.c1 = ldexpf(c, -k);
        d.y1 = 1.0f / d.c1;
        d.s = ldexpf(1.0f, -k);
        d.fma = 1;
    }
#endif
    return d;
}

GK_INLINE gk_hf gk_hdiv_const(gk_hf x, const gk_hdivc *d)
{
#if GK_TVBYTES == 64 && defined(__AVX512F__)
    if (d->fma) {
        const __m512 c1 = _mm512_set1_ps(d->c1), y1 = _mm512_set1_ps(d->y1);
        const __m512 x1 = _mm512_mul_ps((__m512)x, _mm512_set1_ps(d->s));
        const __m512 ax = _mm512_abs_ps(x1);
        const __mmask16 ok = (_mm512_cmp_ps_mask(ax, _mm512_set1_ps(0x1p-99f), _CMP_GE_OQ)
                              & _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0x1p99f), _CMP_LE_OQ))
                             | _mm512_cmp_ps_mask(ax, _mm512_setzero_ps(), _CMP_EQ_OQ);
        if (ok == (__mmask16)0xFFFF) {
            __m512 q = _mm512_mul_ps(x1, y1);
            q = _mm512_fnmadd_ps(_mm512_fmsub_ps(q, c1, x1), y1, q);
            q = _mm512_fnmadd_ps(_mm512_fmsub_ps(q, c1, x1), y1, q);
            return (gk_hf)q;
        }
    }
#elif GK_TVBYTES == 32 && defined(__FMA__)
    if (d->fma) {
        const __m256 c1 = _mm256_set1_ps(d->c1), y1 = _mm256_set1_ps(d->y1);
        const __m256 x1 = _mm256_mul_ps((__m256)x, _mm256_set1_ps(d->s));
        const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x1);
        const __m256 ok = _mm256_or_ps(
            _mm256_and_ps(_mm256_cmp_ps(ax, _mm256_set1_ps(0x1p-99f), _CMP_GE_OQ),
                          _mm256_cmp_ps(ax, _mm256_set1_ps(0x1p99f), _CMP_LE_OQ)),
            _mm256_cmp_ps(ax, _mm256_setzero_ps(), _CMP_EQ_OQ));
        if (_mm256_movemask_ps(ok) == 0xFF) {
            __m256 q = _mm256_mul_ps(x1, y1);
            q = _mm256_fnmadd_ps(_mm256_fmsub_ps(q, c1, x1), y1, q);
            q = _mm256_fnmadd_ps(_mm256_fmsub_ps(q, c1, x1), y1, q);
            return (gk_hf)q;
        }
    }
#endif
    return x / d->c;
}

/* ---- whole arrays: n elements, vectors then one by one (same bits) ------------------
 * One loop per storage, two vectors at a time: the ones the optimizers' staged blocks
 * and the widened copies run on every element they convert. */
GK_INLINE void gk_half_to_f32_n(const int bf16, const uint16_t *GK_RESTRICT src,
                                float *GK_RESTRICT dst, gk_index n)
{
    gk_index j = 0;
    if (bf16) {
        for (; j + 2 * GK_HLEN <= n; j += 2 * GK_HLEN) {
            const gk_hf a = gk_ld_bf16v(src + j), b = gk_ld_bf16v(src + j + GK_HLEN);
            __builtin_memcpy(dst + j, &a, sizeof a);
            __builtin_memcpy(dst + j + GK_HLEN, &b, sizeof b);
        }
        for (; j < n; ++j) dst[j] = gk_bf16_to_f32(src[j]);
    } else {
        for (; j + 2 * GK_HLEN <= n; j += 2 * GK_HLEN) {
            gk_hf a, b;
            gk_ld_f16v2(src + j, &a, &b);
            __builtin_memcpy(dst + j, &a, sizeof a);
            __builtin_memcpy(dst + j + GK_HLEN, &b, sizeof b);
        }
        for (; j < n; ++j) dst[j] = gk_f16_to_f32(src[j]);
    }
}

GK_INLINE void gk_f32_to_half_n(const int bf16, const float *GK_RESTRICT src,
                                uint16_t *GK_RESTRICT dst, gk_index n)
{
    gk_index j = 0;
    gk_hf a, b;
    if (bf16) {
        for (; j + 2 * GK_HLEN <= n; j += 2 * GK_HLEN) {
            __builtin_memcpy(&a, src + j, sizeof a);
            __builtin_memcpy(&b, src + j + GK_HLEN, sizeof b);
            gk_st_bf16v2(dst + j, a, b);
        }
        for (; j < n; ++j) dst[j] = gk_f32_to_bf16(src[j]);
    } else {
        for (; j + 2 * GK_HLEN <= n; j += 2 * GK_HLEN) {
            __builtin_memcpy(&a, src + j, sizeof a);
            __builtin_memcpy(&b, src + j + GK_HLEN, sizeof b);
            gk_st_f16v2(dst + j, a, b);
        }
        for (; j < n; ++j) dst[j] = gk_f32_to_f16(src[j]);
    }
}

#endif
