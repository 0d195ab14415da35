/* Fused residual add + dropout + LayerNorm/RMSNorm, forward and backward, for element
 * type T (included by norm.c once per dtype, and by norm_half.c for float16/bfloat16
 * storage, after norm_tmpl.h, whose row functions it calls, and with the dropout span
 * template of the dtype, whose mask code it calls).  The data arrays (x, residual, y,
 * s, dy, ds_next, dx, dresidual) and the row buffers are TS, read and written through
 * reduce_tmpl.h's loads and stores; weight, bias, statistics and their gradients T.
 *
 * Forward, per row: s = r + dropout(x) into an L1 row buffer (the mask bits of the row
 * written on the way), s copied out, then the norm of the buffer:
 *     reads x, r; writes s, y, the mask bits       (unfused: 3 passes, 7 streams)
 * Backward, per row: ds = norm_backward(dy, s) + ds_next in the row buffer, written out
 * as dresidual, and dx = ds * m:
 *     reads dy, s, ds_next, the mask bits; writes dresidual, dx
 * Every value is computed by the same code, in the same order, as the unfused calls
 * (dropout, then residual + that, then layer_norm; layer_norm_backward, + ds_next,
 * dropout_backward), so the results are bitwise those of the composition.
 *
 * 16-bit storage: s = r + x m is computed in float32 and rounded once (the unfused
 * calls would round x m first); the norm then reads the rounded s, as its backward
 * does.  The backward is bitwise the 16-bit unfused calls: ds is the norm backward's
 * dx rounded to 16-bit (the row functions write TS), + ds_next in float32 rounded once,
 * dx = ds m rounded once. */
#if GK_HALF
#include "dropout_span_half_tmpl.h"
#else
#include "dropout_span_tmpl.h"
#endif

/* rows up to this many elements are assembled in a stack buffer; longer rows go
 * through their output array (same values, no streamed stores for it) */
#define GK_FUSED_ROW ((gk_index)4096)
/* elements of a forward row per dropout span, and per piece of the next row prefetched
 * (a multiple of 8: spans start on mask bytes) */
#define GK_FUSED_PF_PIECE ((gk_index)256)

/* out[0, len) = [r +] x * m over len elements whose words start at word w of the
 * stream, drawn a group at a time as they are consumed (dropout_span.h), so the Philox
 * rounds overlap the loads around them; bt (may be NULL, on a byte) gets the mask
 * bytes.  r may be NULL. */
GK_INLINE void GK_T(fused_drop_span)(const TS *x, const TS *r, TS *out, unsigned char *bt,
                                     gk_index len, const gk_fused_drop *d, uint64_t w)
{
    if (d->none) {
        GK_T(dropout_span_st)(x, r, out, NULL, bt, len, (T)0, 0, 1, 0);
        return;
    }
    gk_dropout_words wsrc;
    gk_dropout_words_init(&wsrc, d->k0, d->k1, w);
    for (gk_index c0 = 0; c0 < len; c0 += GK_DROPOUT_CHUNK) {
        const uint32_t *ws = gk_dropout_words_next(&wsrc);
        gk_index cl = len - c0 < GK_DROPOUT_CHUNK ? len - c0 : GK_DROPOUT_CHUNK;
        GK_T(dropout_span_st)(x + c0, r ? r + c0 : NULL, out + c0, ws,
                              bt ? bt + c0 / 8 : NULL, cl, (T)d->scale, d->keep_max, 0, 0);
    }
}

/* out[0, len) = a + b, in T, rounded once to TS */
GK_INLINE void GK_T(fused_sum)(const TS *a, const TS *b, TS *out, gk_index len)
{
    gk_index j = 0;
#if GK_HALF  /* vectors: the conversions of gk_half.h (F16C on AVX2) */
    for (; j + GK_TVLEN <= len; j += GK_TVLEN)
        GK_T(sttv_arith)(out + j, GK_T(ldtv_arith)(a + j) + GK_T(ldtv_arith)(b + j));
#endif
    for (; j < len; ++j)
        GK_T(st1)(out + j, GK_T(ld1)(a + j) + GK_T(ld1)(b + j));
}

/* g[0, n) = g + b (in T, rounded once to TS, as fused_sum), the same values also to out
 * with non-temporal stores: out aligned to GK_SVBYTES and n a multiple of GK_TVLEN (the
 * caller checks; the caller fences) */
GK_INLINE void GK_T(fused_sum_stream)(TS *g, const TS *b, TS *out, gk_index n)
{
    for (gk_index j = 0; j < n; j += GK_TVLEN) {
        const GK_T(tvec) v = GK_T(ldtv_arith)(g + j) + GK_T(ldtv_arith)(b + j);
        GK_T(sttv_arith)(g + j, v);
        GK_T(stream_vec)(out + j, v);
    }
}

/* sb[0, len) = r + dropout(x) over elements [e, e + len) of the arrays, len <=
 * GK_DROPOUT_SPAN; the span's mask bits into bits (the whole mask, may be NULL) */
GK_INLINE void GK_T(fused_add_span)(const TS *x, const TS *r, TS *sb, unsigned char *bits,
                                    gk_index e, gk_index len, const gk_fused_drop *d)
{
    if (!d->on) {
        GK_T(fused_sum)(r + e, x + e, sb, len);
        return;
    }
    unsigned char tb[GK_DROPOUT_SPAN / 8];
    const int aligned = e % 8 == 0;  /* the span starts on a mask byte */
    unsigned char *bt = !bits ? NULL : aligned ? bits + e / 8 : tb;
    GK_T(fused_drop_span)(x + e, r + e, sb, bt, len, d, d->w0 + (uint64_t)e);
    if (bits && !aligned)
        gk_bits_put(bits, e, tb, len);
}

/* dst[0, n) = g * m over elements [e, e + n): the mask from its bits, or regenerated
 * from the stream when bits is NULL, as dropout_backward does */
GK_INLINE void GK_T(fused_drop_back)(const TS *g, TS *dst, const unsigned char *bits,
                                     gk_index e, gk_index n, const gk_fused_drop *d)
{
    if (!d->on) {
        memcpy(dst, g, sizeof(TS) * (size_t)n);
        return;
    }
    for (gk_index o = 0; o < n; o += GK_DROPOUT_SPAN) {
        gk_index len = n - o < GK_DROPOUT_SPAN ? n - o : GK_DROPOUT_SPAN, at = e + o;
        if (bits) {
            unsigned char tb[GK_DROPOUT_SPAN / 8];
            const unsigned char *bt = bits + at / 8;
            if (at % 8) {
                gk_bits_get(bits, at, tb, len);
                bt = tb;
            }
            GK_T(dropout_bits_span_st)(g + o, bt, dst + o, len, (T)d->scale, 0);
        } else {
            GK_T(fused_drop_span)(g + o, NULL, dst + o, NULL, len, d, d->w0 + (uint64_t)at);
        }
    }
}

/* ---- forward ------------------------------------------------------------------------ */
GK_TASK void GK_T(fused_fwd_rows)(const int rms, const TS *x, const TS *r, const T *w,
                                    const T *b, TS *y, TS *s, T *mean, T *rstd,
                                    unsigned char *bits, gk_index i0, gk_index i1,
                                    gk_index cols, double eps, const gk_fused_drop *d,
                                    int stream_s, int stream_y)
{
    TS row[GK_FUSED_ROW];
    GK_T(carry) cy = {0};   /* y's shared lines (reduce_tmpl.h) */
    gk_index i = i0;
    if (cols < GK_FUSED_PF_PIECE && !stream_s && !stream_y) {
        /* short rows in cache: a block of rows' add and dropout as one span into s (a
         * span draws whole groups of Philox words, 128 on AVX-512: a 64-element row
         * alone drew 128 or 256 of them for its 64), then each row's norm from s, two
         * rows' statistics side by side (fwd_row2, the plain forward's rows).  The same
         * words and arithmetic per element: the same bits. */
        const gk_index per = GK_FUSED_PF_PIECE / cols;
        for (gk_index nb; i < i1; i += nb) {
            nb = i1 - i < per ? i1 - i : per;
            GK_T(fused_add_span)(x, r, s + i * cols, bits, i * cols, nb * cols, d);
            gk_index q = i;
            for (; q + 2 <= i + nb; q += 2)
                GK_T(fwd_row2)(rms, s, w, b, y, mean, rstd, q, cols, eps, 0);
            if (q < i + nb)
                GK_T(fwd_row)(rms, s, w, b, y, mean, rstd, q, cols, eps, 0, 0, NULL);
        }
    }
    for (; i < i1; ++i) {
        TS *si = s + i * cols;
        TS *sb = cols <= GK_FUSED_ROW ? row : si;
        /* the next row's x and r fetched a piece at a time alongside this row's pieces:
         * the whole next row at once (8 KiB of prefetches in a burst) made an 8192x1024
         * float32 forward from memory 4.9 ms against 4.1-4.2 (2 threads, Intel Xeon) */
        const int pf = (stream_s || stream_y) && i + 1 < i1;
        /* a streamed s leaves the row buffer piece by piece behind the spans, cut on
         * s's lines (a line written in two parts costs a read of it): 4.0 -> 3.85 ms
         * against the whole row after the last span (as above) */
        const int lag = sb != si && stream_s;
        gk_index done = 0;
        for (gk_index o = 0; o < cols; o += GK_FUSED_PF_PIECE) {
            const gk_index len = cols - o < GK_FUSED_PF_PIECE ? cols - o : GK_FUSED_PF_PIECE;
            if (pf) {
                const size_t nb = sizeof(TS) * (size_t)len;
                gk_prefetch_bytes((const char *)(x + (i + 1) * cols + o), 0, nb);
                gk_prefetch_bytes((const char *)(r + (i + 1) * cols + o), 0, nb);
            }
            GK_T(fused_add_span)(x, r, sb + o, bits, i * cols + o, len, d);
            if (lag) {
                gk_index upto = o + len;
                if (upto < cols)
                    upto -= gk_past_line(si + upto, sizeof(TS));
                if (upto > done) {
                    gk_copy_nt(si + done, sb + done, sizeof(TS) * (size_t)(upto - done));
                    done = upto;
                }
            }
        }
        if (sb != si && !lag) {
            if (stream_s)
                gk_copy_nt(si, sb, sizeof(TS) * (size_t)cols);
            else
                memcpy(si, sb, sizeof(TS) * (size_t)cols);
        }
        double m, rr;
        GK_T(fwd_stats)(rms, sb, cols, 1, 0, eps, &m, &rr);
        if (mean) mean[i] = (T)m;
        if (rstd) rstd[i] = (T)rr;
        cy.keep = i + 1 < i1;
        GK_T(fwd_write)(rms, sb, w, b, y + i * cols, cols, m, rr, stream_y, &cy);
    }
    GK_T(carry_flush)(&cy);
    if (stream_s || stream_y) gk_sfence();  /* each thread orders its own streamed rows */
}

/* Rows go to threads in contiguous runs; when a row does not end on a mask byte, runs
 * of 8 rows (which do), so no mask byte is written by two threads. */
static int GK_T(add_dropout_norm_fwd)(int rms, const TS *x, const TS *r, const T *w,
                                      const T *b, TS *y, TS *s, T *mean, T *rstd,
                                      unsigned char *bits, gk_index rows, gk_index cols,
                                      double eps, const gk_fused_drop *d)
{
    size_t bytes = (size_t)(rows * cols) * sizeof(TS);
    int stream_s = gk_stream_output(bytes, s, x, r), stream_y = gk_stream_output(bytes, y, x, r);
    int nt = gk_threads_for(rows * cols);
    gk_index unit = bits && cols % 8 ? 8 : 1, units = (rows + unit - 1) / unit;
    if (nt > units) nt = (int)units;
    GK_PARALLEL_FOR(nt, t, nt,
        gk_index i0 = gk_task_begin(t, nt, units) * unit;
        gk_index i1 = gk_task_begin(t + 1, nt, units) * unit;
        if (i1 > rows) i1 = rows;
        if (rms)
            GK_T(fused_fwd_rows)(1, x, r, w, NULL, y, s, NULL, rstd, bits, i0, i1, cols,
                                 eps, d, stream_s, stream_y);
        else
            GK_T(fused_fwd_rows)(0, x, r, w, b, y, s, mean, rstd, bits, i0, i1, cols,
                                 eps, d, stream_s, stream_y);
    );
    return GK_OK;
}

/* ---- backward ----------------------------------------------------------------------- */
/* Rows [i0, i1) of a task, in the groups norm_bwd (norm_tmpl.h) makes of them, so
 * dweight and dbias get the same bits as layer_norm_backward's: per group, ds =
 * norm_backward(dy, s) into row buffers (into dresidual itself for rows longer than
 * GK_FUSED_ROW), then per row ds += ds_next, written out as dresidual, dx = ds * m. */
GK_TASK void GK_T(fused_bwd_rows)(const GK_T(bwd_ctx) *c, const int rms, const TS *dsn,
                                    const unsigned char *bits, TS *dx, TS *dres, double *pw,
                                    double *pb, gk_index i0, gk_index i1,
                                    const gk_fused_drop *d, int stream_r, int stream_x)
{
    /* rows a line apart beyond their length: not in the same L1 sets (gk_bwd_group_for) */
    TS row[GK_BWD_GROUP * (GK_FUSED_ROW + 64 / sizeof(TS))];
    const gk_index cols = c->cols;
    const int buffered = cols <= GK_FUSED_ROW;
    for (gk_index i = i0, gn; i < i1; i += gn) {
        TS *out[GK_BWD_GROUP];
        gn = gk_bwd_group_size(i, i1, c->group);
        for (gk_index q = 0; q < gn; ++q)
            out[q] = buffered ? row + q * (cols + 64 / (gk_index)sizeof(TS))
                              : dres + (i + q) * cols;
        if (dsn && c->pf) {
            /* ds_next's rows of the group, read after both passes of the norm: into L1
             * now, or they arrive one row at a time then, each a page the hardware's
             * prefetchers start cold on.  8192x1024 float32 from memory, 2 threads of
             * the AMD EPYC (Zen 5) guest: LayerNorm 5.75 -> 4.98 ms, RMSNorm 5.16 ->
             * 4.61 (into L2: 5.35 and 4.86; the next group's rows, in another run:
             * 5.69 and 5.21 against this group's 5.50 and 5.02, none 5.94 and 5.73) */
            const char *pd = (const char *)(dsn + i * cols);
            const size_t nb = sizeof(TS) * (size_t)(gn * cols);
            for (size_t q = 0; q < nb; q += 64) __builtin_prefetch(pd + q, 0, 3);
        }
        GK_T(bwd_group)(c, rms, (int)gn, i, out, pw, pb);
        for (gk_index q = 0; q < gn; ++q) {
            const gk_index e = (i + q) * cols;
            TS *g = out[q];  /* ds */
            /* ds + ds_next and its streamed copy to dresidual in one pass over the row
             * buffer, where dresidual's row starts on a vector and holds whole ones */
            if (buffered && dsn && stream_r && cols % GK_TVLEN == 0
                    && (uintptr_t)(dres + e) % GK_SVBYTES == 0) {
                GK_T(fused_sum_stream)(g, dsn + e, dres + e, cols);
            } else {
                if (dsn)
                    GK_T(fused_sum)(g, dsn + e, g, cols);
                if (buffered) {
                    if (stream_r)
                        gk_copy_nt(dres + e, g, sizeof(TS) * (size_t)cols);
                    else
                        memcpy(dres + e, g, sizeof(TS) * (size_t)cols);
                }
            }
            /* dx from the stored mask straight into dx's streamed lines (the row on a
             * line, its mask on a byte), not through a piece buffer copied out */
            if (d->on && bits && stream_x && e % 8 == 0 && (uintptr_t)(dx + e) % 64 == 0)
                GK_T(dropout_bits_span_st)(g, bits + e / 8, dx + e, cols, (T)d->scale, 1);
            else
                GK_WRITE_PIECES(TS, dx + e, cols, stream_x, dst, off, len,
                                GK_T(fused_drop_back)(g + off, dst, bits, e + off, len, d));
        }
    }
    if (stream_r || stream_x) gk_sfence();
}

/* the tasks and partials of norm_bwd (its lw, lb: 16-bit rows keep dweight's and
 * dbias's partials whenever norm_bwd does); without dweight and dbias the grouping of
 * rows into tasks does not change any value */
static int GK_T(add_dropout_norm_bwd)(int rms, const TS *dy, const TS *dsn, const TS *s,
                                      const T *mean, const T *rstd, const T *w,
                                      const unsigned char *bits, TS *dx, TS *dres, T *dw,
                                      T *db, gk_index rows, gk_index cols,
                                      const gk_fused_drop *d)
{
    const size_t bytes = (size_t)(rows * cols) * sizeof(TS);
    const int stream_r = gk_stream_output(bytes, dres, dy, s);
    const int stream_x = gk_stream_output(bytes, dx, dy, s);
    GK_T(bwd_ctx) c = {dy, s, rms ? NULL : mean, rstd, w, NULL, rows, cols, 0,
                       gk_bwd_pf((size_t)cols * sizeof(TS), bytes),
                       gk_bwd_group_for((size_t)cols * sizeof(TS), bytes), 0};
    const int lw = dw != NULL || (GK_HALF && w != NULL), lb = db != NULL || (GK_HALF && !rms);
    const int nacc = cols > 0 ? lw + lb : 0;
    const gk_index ntask = gk_row_tasks(rows, nacc * cols);
    int owned, nt = gk_threads_for(rows * cols);
    double *part = GK_T(bwd_scratch)(&c, ntask, nacc, &owned);
    if (!part)
        return GK_ENOMEM;
    if (nt > ntask) nt = (int)ntask;
    gk_index folded = 0;   /* tasks in the running total (bwd_part_begin) */
    GK_PARALLEL_FOR(nt, k, ntask,
        double *pk = GK_T(bwd_part_begin)(part, ntask, nacc * cols, k, &folded);
        double *pw = lw && nacc ? pk : NULL, *pb = lb && nacc ? pk + (lw ? cols : 0) : NULL;
        gk_index i0 = gk_task_begin(k, ntask, rows), i1 = gk_task_begin(k + 1, ntask, rows);
        if (rms)
            GK_T(fused_bwd_rows)(&c, 1, dsn, bits, dx, dres, pw, pb, i0, i1, d, stream_r,
                                 stream_x);
        else
            GK_T(fused_bwd_rows)(&c, 0, dsn, bits, dx, dres, pw, pb, i0, i1, d, stream_r,
                                 stream_x);
        GK_T(bwd_part_end)(part, ntask, nacc * cols, k, pk, &folded);
    );
    if (nacc) {
        GK_T(fold_partials)(part, folded, ntask, nacc, cols, lw, dw, db);
    } else {
        if (dw) for (gk_index j = 0; j < cols; ++j) dw[j] = 0;
        if (db) for (gk_index j = 0; j < cols; ++j) db[j] = 0;
    }
    gk_scratch_done(part, owned);
    return GK_OK;
}
