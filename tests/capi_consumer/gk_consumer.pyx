# cython: language_level=3
"""Calls gradkit's LayerNorm, RMSNorm (float32/float64 and 16-bit storage), dropout,
Adam (float32/float64 and the 16-bit mixed-precision step) and low-bit dequantization
kernels through its C-level API (gradkit.capi).

Each function writes into the arrays it is given and returns the kernel's status code;
`rows` overrides the row count handed to the kernel (to show a bad argument's code).
"""
from gradkit.capi cimport (gk_adam_f32, gk_adam_f64, gk_adam_multi_mp, gk_adam_options,
                           gk_optim_storage, gk_lamb_multi_mp, gk_lamb_options,
                           gk_adafactor_multi_mp, gk_adafactor_options, gk_dropout_f32, gk_dropout_f64,
                           gk_dropout_bf16, gk_dropout_backward_bf16,
                           gk_layer_norm_f32, gk_layer_norm_f64, gk_rms_norm_f32,
                           gk_rms_norm_f64, gk_layer_norm_f16, gk_layer_norm_bf16,
                           gk_rms_norm_f16, gk_rms_norm_bf16, gk_layer_norm_backward_f16,
                           gk_layer_norm_backward_bf16, gk_rms_norm_backward_f16,
                           gk_rms_norm_backward_bf16, gk_qweight, gk_dequantize_weight_f32)

cdef extern from "gradkit/gradkit.h":
    int GK_OK      # the status codes live in gradkit's C header
    int GK_ESIZE
    int GK_EVALUE
    int gk_error_kind(int status)        # what is wrong: GK_ESIZE, GK_EVALUE, ...
    int gk_error_arg(int status)         # with which argument (an id) ...
    const char *gk_arg_name(int arg)     # ... and its name in the prototype

OK = GK_OK
ESIZE = GK_ESIZE
EVALUE = GK_EVALUE


def explain(int status):
    """(kind, argument name) of a status."""
    return gk_error_kind(status), gk_arg_name(gk_error_arg(status)).decode()


def layer_norm_f32(const float[:, ::1] x, const float[::1] weight, const float[::1] bias,
                   float[:, ::1] y, float[::1] mean, float[::1] rstd, double eps,
                   rows=None):
    cdef const float *w = &weight[0] if weight is not None else NULL  # None: no affine
    cdef const float *b = &bias[0] if bias is not None else NULL
    cdef Py_ssize_t n = x.shape[0] if rows is None else rows
    cdef int rc
    with nogil:
        rc = gk_layer_norm_f32(&x[0, 0], w, b, &y[0, 0], &mean[0], &rstd[0], n,
                               x.shape[1], eps)
    return rc


def layer_norm_f64(const double[:, ::1] x, const double[::1] weight,
                   const double[::1] bias, double[:, ::1] y, double[::1] mean,
                   double[::1] rstd, double eps, rows=None):
    cdef const double *w = &weight[0] if weight is not None else NULL
    cdef const double *b = &bias[0] if bias is not None else NULL
    cdef Py_ssize_t n = x.shape[0] if rows is None else rows
    cdef int rc
    with nogil:
        rc = gk_layer_norm_f64(&x[0, 0], w, b, &y[0, 0], &mean[0], &rstd[0], n,
                               x.shape[1], eps)
    return rc


def rms_norm_f32(const float[:, ::1] x, const float[::1] weight, float[:, ::1] y,
                 float[::1] rstd, double eps, rows=None):
    cdef const float *w = &weight[0] if weight is not None else NULL
    cdef Py_ssize_t n = x.shape[0] if rows is None else rows
    cdef int rc
    with nogil:
        rc = gk_rms_norm_f32(&x[0, 0], w, &y[0, 0], &rstd[0], n, x.shape[1], eps)
    return rc


def rms_norm_f64(const double[:, ::1] x, const double[::1] weight, double[:, ::1] y,
                 double[::1] rstd, double eps, rows=None):
    cdef const double *w = &weight[0] if weight is not None else NULL
    cdef Py_ssize_t n = x.shape[0] if rows is None else rows
    cdef int rc
    with nogil:
        rc = gk_rms_norm_f64(&x[0, 0], w, &y[0, 0], &rstd[0], n, x.shape[1], eps)
    return rc


def layer_norm_half(bint bf16, const unsigned short[:, ::1] x, const float[::1] weight,
                    const float[::1] bias, unsigned short[:, ::1] y, float[::1] mean,
                    float[::1] rstd, double eps, rows=None):
    """16-bit storage (bf16: bfloat16, else float16): x and y hold the bit patterns
    (numpy uint16 views); weight, bias and the statistics are float32."""
    cdef const float *w = &weight[0] if weight is not None else NULL
    cdef const float *b = &bias[0] if bias is not None else NULL
    cdef Py_ssize_t n = x.shape[0] if rows is None else rows
    cdef int rc
    with nogil:
        if bf16:
            rc = gk_layer_norm_bf16(&x[0, 0], w, b, &y[0, 0], &mean[0], &rstd[0], n,
                                    x.shape[1], eps)
        else:
            rc = gk_layer_norm_f16(&x[0, 0], w, b, &y[0, 0], &mean[0], &rstd[0], n,
                                   x.shape[1], eps)
    return rc


def rms_norm_half(bint bf16, const unsigned short[:, ::1] x, const float[::1] weight,
                  unsigned short[:, ::1] y, float[::1] rstd, double eps, rows=None):
    cdef const float *w = &weight[0] if weight is not None else NULL
    cdef Py_ssize_t n = x.shape[0] if rows is None else rows
    cdef int rc
    with nogil:
        if bf16:
            rc = gk_rms_norm_bf16(&x[0, 0], w, &y[0, 0], &rstd[0], n, x.shape[1], eps)
        else:
            rc = gk_rms_norm_f16(&x[0, 0], w, &y[0, 0], &rstd[0], n, x.shape[1], eps)
    return rc


def layer_norm_backward_half(bint bf16, const unsigned short[:, ::1] dy,
                             const unsigned short[:, ::1] x, const float[::1] mean,
                             const float[::1] rstd, const float[::1] weight,
                             unsigned short[:, ::1] dx, float[::1] dweight, float[::1] dbias):
    """dweight and dbias (float32) are written when given, weight may be None."""
    cdef const float *w = &weight[0] if weight is not None else NULL
    cdef float *dw = &dweight[0] if dweight is not None else NULL
    cdef float *db = &dbias[0] if dbias is not None else NULL
    cdef int rc
    with nogil:
        if bf16:
            rc = gk_layer_norm_backward_bf16(&dy[0, 0], &x[0, 0], &mean[0], &rstd[0], w,
                                             &dx[0, 0], dw, db, x.shape[0], x.shape[1])
        else:
            rc = gk_layer_norm_backward_f16(&dy[0, 0], &x[0, 0], &mean[0], &rstd[0], w,
                                            &dx[0, 0], dw, db, x.shape[0], x.shape[1])
    return rc


def rms_norm_backward_half(bint bf16, const unsigned short[:, ::1] dy,
                           const unsigned short[:, ::1] x, const float[::1] rstd,
                           const float[::1] weight, unsigned short[:, ::1] dx,
                           float[::1] dweight):
    cdef const float *w = &weight[0] if weight is not None else NULL
    cdef float *dw = &dweight[0] if dweight is not None else NULL
    cdef int rc
    with nogil:
        if bf16:
            rc = gk_rms_norm_backward_bf16(&dy[0, 0], &x[0, 0], &rstd[0], w, &dx[0, 0], dw,
                                           x.shape[0], x.shape[1])
        else:
            rc = gk_rms_norm_backward_f16(&dy[0, 0], &x[0, 0], &rstd[0], w, &dx[0, 0], dw,
                                          x.shape[0], x.shape[1])
    return rc


def dropout_f32(const float[::1] x, float[::1] y, unsigned char[::1] bits, double p,
                unsigned long long seed, unsigned long long counter):
    cdef int rc
    with nogil:
        rc = gk_dropout_f32(&x[0], &y[0], &bits[0], x.shape[0], p, seed, counter)
    return rc


def dropout_f64(const double[::1] x, double[::1] y, unsigned char[::1] bits, double p,
                unsigned long long seed, unsigned long long counter):
    cdef int rc
    with nogil:
        rc = gk_dropout_f64(&x[0], &y[0], &bits[0], x.shape[0], p, seed, counter)
    return rc


def dropout_bf16(const unsigned short[::1] x, unsigned short[::1] y,
                 unsigned char[::1] bits, double p, unsigned long long seed,
                 unsigned long long counter):
    """bfloat16 storage: the arrays hold its bit patterns (numpy uint16 views)."""
    cdef int rc
    with nogil:
        rc = gk_dropout_bf16(&x[0], &y[0], &bits[0], x.shape[0], p, seed, counter)
    return rc


def dropout_backward_bf16(const unsigned short[::1] dy, const unsigned char[::1] bits,
                          unsigned short[::1] dx, double p):
    cdef int rc
    with nogil:
        rc = gk_dropout_backward_bf16(&dy[0], &bits[0], &dx[0], dy.shape[0], p)
    return rc


def adam_f32(float[::1] param, const float[::1] grad, float[::1] m, float[::1] v, long step,
             double lr, double beta1, double beta2, double eps, double wd, int decoupled):
    cdef int rc
    with nogil:
        rc = gk_adam_f32(&param[0], &grad[0], &m[0], &v[0], param.shape[0], step, lr, beta1,
                         beta2, eps, wd, decoupled)
    return rc


def adam_f64(double[::1] param, const double[::1] grad, double[::1] m, double[::1] v,
             long step, double lr, double beta1, double beta2, double eps, double wd,
             int decoupled):
    cdef int rc
    with nogil:
        rc = gk_adam_f64(&param[0], &grad[0], &m[0], &v[0], param.shape[0], step, lr, beta1,
                         beta2, eps, wd, decoupled)
    return rc


def adam_mp(param, grad, m, v, long long step, double lr, double wd, int pdt, int sdt,
            model=None, bint check=False):
    """One AdamW step of gk_adam_multi_mp on one array of each list (uint16 views of
    16-bit data, float32 arrays): pdt, sdt the dtype codes (GK_DTYPE_*) of param and
    grad / of the moments; `model`: the 16-bit copy written from a float32 master
    (param).  Returns (status, found_inf)."""
    cdef unsigned char[::1] pb = param.view("u1").reshape(-1)
    cdef const unsigned char[::1] gb = grad.view("u1").reshape(-1)
    cdef unsigned char[::1] mb = m.view("u1").reshape(-1)
    cdef unsigned char[::1] vb = v.view("u1").reshape(-1)
    cdef unsigned char[::1] ob
    cdef void *pp = &pb[0]
    cdef const void *gp = &gb[0]
    cdef void *mp = &mb[0]
    cdef void *vp = &vb[0]
    cdef void *op = NULL
    cdef Py_ssize_t n = param.size
    cdef int rc, found = 0
    cdef gk_adam_options o
    cdef gk_optim_storage st
    o.lr, o.beta1, o.beta2, o.eps, o.weight_decay = lr, 0.9, 0.999, 1e-8, wd
    o.amsgrad, o.decoupled, o.maximize, o.scale, o.coef = 0, 1, 0, 0, 1.0
    st.param, st.grad, st.state, st.model_dtype = (0 if model is not None else pdt), pdt, \
        sdt, pdt
    st.model = NULL
    st.found_inf = &found if check else NULL
    if model is not None:
        ob = model.view("u1").reshape(-1)
        op = &ob[0]
        st.model = &op
    with nogil:
        rc = gk_adam_multi_mp(1, &pp, &gp, &mp, &vp, NULL, &n, &step, &o, &st)
    return rc, found


cdef void *_bytes(object a):
    """The data pointer of an array (any dtype, C-contiguous: the view is of its own
    memory, which the caller keeps alive) through a uint8 view; NULL for None."""
    if a is None:
        return NULL
    if not a.flags.c_contiguous:
        raise ValueError("a C-contiguous array is needed")
    cdef unsigned char[::1] b = a.view("u1").reshape(-1)
    return &b[0]


cdef void _storage(gk_optim_storage *st, int pdt, int sdt, object model, void **op,
                   int *found, bint check):
    """gk_optim_storage of one array: pdt the dtype code of param (float32 when model,
    the 16-bit copy of a float32 master, is given) and grad; sdt the states'."""
    st.param, st.grad, st.state, st.model_dtype = (0 if model is not None else pdt), \
        pdt, sdt, pdt
    op[0] = _bytes(model)
    st.model = op if model is not None else NULL
    st.found_inf = found if check else NULL


def lamb_mp(param, grad, m, v, long long step, double lr, double wd, int pdt, int sdt,
            model=None, bint check=False):
    """One LAMB step of gk_lamb_multi_mp on one array of each list (as adam_mp).
    Returns (status, found_inf, trust ratio)."""
    cdef void *pp = _bytes(param)
    cdef const void *gp = _bytes(grad)
    cdef void *mp = _bytes(m)
    cdef void *vp = _bytes(v)
    cdef void *op = NULL
    cdef Py_ssize_t n = param.size
    cdef int rc, found = 0
    cdef double ratio = 0.0
    cdef gk_lamb_options o
    cdef gk_optim_storage st
    o.lr, o.beta1, o.beta2, o.eps, o.eps_root, o.weight_decay = lr, 0.9, 0.999, 1e-6, \
        0.0, wd
    o.maximize, o.scale, o.coef = 0, 0, 1.0
    _storage(&st, pdt, sdt, model, &op, &found, check)
    with nogil:
        rc = gk_lamb_multi_mp(1, &pp, &gp, &mp, &vp, &n, &step, &o, &ratio, &st)
    return rc, found, ratio


def adafactor_mp(param, grad, row_var, col_var, long long step, double lr, double eps1,
                 int pdt, int sdt, model=None, bint check=False):
    """One Adafactor step of gk_adafactor_multi_mp on one 2-D parameter (rows x cols,
    factored: row_var (rows, 1), col_var (1, cols)), torch's other defaults.  Returns
    (status, found_inf)."""
    cdef void *pp = _bytes(param)
    cdef const void *gp = _bytes(grad)
    cdef void *rp = _bytes(row_var)
    cdef void *cp = _bytes(col_var)
    cdef void *vp = NULL
    cdef void *op = NULL
    cdef Py_ssize_t n = param.size
    cdef Py_ssize_t rows = param.shape[0], cols = param.shape[1]
    cdef int rc, found = 0
    cdef gk_adafactor_options o
    cdef gk_optim_storage st
    o.lr, o.beta2_decay, o.eps1, o.eps2, o.d, o.weight_decay = lr, -0.8, eps1, 1e-3, \
        1.0, 0.0
    o.maximize, o.scale, o.coef = 0, 0, 1.0
    _storage(&st, pdt, sdt, model, &op, &found, check)
    with nogil:
        rc = gk_adafactor_multi_mp(1, &pp, &gp, &rp, &cp, &vp, &n, &rows, &cols, &step, &o,
                                   &st)
    return rc, found


def dequantize_weight_f32(const unsigned int[:, ::1] packed, const float[:, ::1] scales,
                          const unsigned char[:, ::1] zeros, Py_ssize_t cols,
                          Py_ssize_t group_size, int bits, float[:, ::1] out):
    """A 4-bit (or 2/3/8-bit) weight in natural groups, dequantized through capi."""
    cdef gk_qweight w
    w.packed = &packed[0, 0]
    w.scales = &scales[0, 0]
    w.zeros = &zeros[0, 0]
    w.g_idx = NULL
    w.rows = packed.shape[0]
    w.cols = cols
    w.groups = scales.shape[1]
    w.group_size = group_size
    w.bits = bits
    cdef int rc
    with nogil:
        rc = gk_dequantize_weight_f32(&w, &out[0, 0])
    return rc
