"""Reference low-bit weight quantization: per-group RTN and GPTQ, in NumPy.

Written from the GPTQ paper (Frantar et al., 2022, Algorithm 1: OBQ column by column
with the upper Cholesky factor of the inverse Hessian, lazy block updates) and the
conventions of its reference code (min-max quantizer with the range extended to 0,
group parameters found when a group starts, dead inputs, damping, act-order), float32
throughout as the reference computes.  Importing nothing from gradkit.quant; slow on
purpose: one column at a time, as the pseudo-code reads.

Results are plain arrays: ``q`` (rows, cols) integers in ``[0, 2**bits - 1]``,
``scales`` float32 and ``zeros`` integers of shape (rows, groups), ``g_idx`` int32
(cols,): the group of each input column.  Column c of row r stands for
``scales[r, g_idx[c]] * (q[r, c] - zeros[r, g_idx[c]])``.
"""
import numpy as np

_F = np.float32


def hessian(x, h=None, n=0):
    """H = 2/n sum_i x_i x_i^T over all rows seen so far (running n): the old H is
    scaled by n_old / n_new and 2/n_new X^T X added.  x (..., d) -> rows m."""
    x = np.asarray(x)
    x2 = x.reshape(-1, x.shape[-1]).astype(np.float64)
    m = x2.shape[0]
    d = x2.shape[1]
    total = n + m
    out = np.zeros((d, d)) if h is None else np.asarray(h, np.float64) * (n / total if total else 0)
    if total:
        out = out + (2.0 / total) * (x2.T @ x2)
    return out.astype(x.dtype if x.dtype in (np.float32, np.float64) else np.float64), total


def find_params(w, bits, sym):
    """Scale and zero of each row of w (rows, k): min-max over the row with the range
    extended to hold 0; symmetric: max(|min|, max) on both sides where min < 0 (a row
    with no negative value keeps min 0, as the reference quantizer does), zero at the
    middle of the grid; an all-zero row gets the range [-1, 1]."""
    w = w.astype(_F)
    maxq = _F(2 ** bits - 1)
    xmin = np.minimum(w.min(axis=1), _F(0))
    xmax = np.maximum(w.max(axis=1), _F(0))
    if sym:
        xmax = np.maximum(np.abs(xmin), xmax)
        neg = xmin < 0
        xmin[neg] = -xmax[neg]
    both0 = (xmin == 0) & (xmax == 0)
    xmin[both0] = _F(-1)
    xmax[both0] = _F(1)
    scale = ((xmax - xmin) / maxq).astype(_F)
    if sym:
        zero = np.full(scale.shape, (maxq + 1) / 2, _F)
    else:
        zero = np.round(-xmin / scale).astype(_F)         # half to even, as torch.round
    return scale, zero


def quantize_column(w, scale, zero, bits):
    """(q, dequantized): q = clamp(round(w / scale) + zero, 0, maxq), w_hat = scale (q - zero)."""
    maxq = _F(2 ** bits - 1)
    q = np.clip(np.round(w.astype(_F) / scale) + zero, _F(0), maxq).astype(_F)
    return q, (scale * (q - zero)).astype(_F)


def _groups(cols, group_size):
    gs = cols if group_size == -1 else group_size
    return max(1, -(-cols // gs)) if cols else 0, gs


def quantize_weight(w, bits=4, group_size=128, sym=False):
    """Round to nearest per group of ``group_size`` input columns (per row if -1)."""
    w = np.asarray(w, _F)
    rows, cols = w.shape
    ngroups, gs = _groups(cols, group_size)
    q = np.zeros((rows, cols), np.int64)
    scales = np.zeros((rows, ngroups), _F)
    zeros = np.zeros((rows, ngroups), np.int64)
    for g in range(ngroups):
        sl = slice(g * gs, min((g + 1) * gs, cols))
        s, z = find_params(w[:, sl], bits, sym)
        scales[:, g], zeros[:, g] = s, z
        for c in range(sl.start, sl.stop):
            qc, _ = quantize_column(w[:, c], s, z, bits)
            q[:, c] = qc
    g_idx = (np.arange(cols) // gs).astype(np.int32)
    return q, scales, zeros, g_idx


def upper_cholesky_of_inverse(h):
    """U upper triangular with H^-1 = U^T U: Cholesky of H, inverse from it, Cholesky
    of that (upper), as the reference does.  Raises numpy.linalg.LinAlgError when H is
    not positive definite."""
    L = np.linalg.cholesky(h)
    Linv = np.linalg.inv(L).astype(h.dtype)
    hinv = Linv.T @ Linv
    return np.linalg.cholesky(hinv).T.copy()


def gptq(w, h, bits=4, group_size=128, block_size=128, damp_percent=0.01,
         act_order=False, static_groups=False, sym=False):
    """GPTQ (Frantar et al., 2022), column by column, float32 as the reference."""
    W = np.array(w, _F)
    H = np.array(h, _F)
    rows, cols = W.shape
    ngroups, gs = _groups(cols, group_size)
    whole_row = find_params(W, bits, sym) if group_size == -1 else None
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    static = []
    if static_groups and group_size != -1:
        for g in range(ngroups):
            static.append(find_params(W[:, g * gs:(g + 1) * gs], bits, sym))
    perm = np.arange(cols)
    if act_order:
        perm = np.argsort(-np.diag(H), kind="stable")
        W = W[:, perm]
        H = H[perm][:, perm]
    damp = _F(damp_percent) * np.mean(np.diag(H), dtype=_F)
    H[np.arange(cols), np.arange(cols)] += damp
    Hinv = upper_cholesky_of_inverse(H)
    Q = np.zeros((rows, cols), np.int64)
    scales = np.zeros((rows, ngroups), _F)
    zeros = np.zeros((rows, ngroups), np.int64)
    col_group = np.zeros(cols, np.int64)
    params = whole_row
    if whole_row is not None:
        scales[:, 0], zeros[:, 0] = whole_row
    for i1 in range(0, cols, block_size):
        i2 = min(i1 + block_size, cols)
        W1 = W[:, i1:i2].copy()
        Err1 = np.zeros_like(W1)
        for i in range(i2 - i1):
            c = i1 + i
            if group_size != -1:
                if static_groups:
                    g = perm[c] // gs
                    params = static[g]
                    scales[:, g], zeros[:, g] = params
                elif c % gs == 0:
                    g = c // gs
                    params = find_params(W[:, c:c + gs], bits, sym)   # block-start values
                    scales[:, g], zeros[:, g] = params
                col_group[c] = g
            d = Hinv[i1 + i, i1 + i]
            qc, deq = quantize_column(W1[:, i], params[0], params[1], bits)
            Q[:, c] = qc
            err = ((W1[:, i] - deq) / d).astype(_F)
            W1[:, i:] -= (err[:, None] * Hinv[c, i1 + i:i2][None, :]).astype(_F)
            Err1[:, i] = err
        W[:, i2:] -= (Err1 @ Hinv[i1:i2, i2:]).astype(_F)
    inv = np.argsort(perm)
    Q = Q[:, inv]
    g_idx = col_group[inv].astype(np.int32)
    return Q, scales, zeros, g_idx


def dequantize_weight(q, scales, zeros, g_idx):
    """W_hat[r, c] = scales[r, g_idx[c]] * (q[r, c] - zeros[r, g_idx[c]]) (float32)."""
    s = scales[:, g_idx].astype(_F)
    z = zeros[:, g_idx].astype(_F)
    return (s * (q.astype(_F) - z)).astype(_F)


def pack(q, bits):
    """Each row's values as one little-endian bit stream, ``bits`` bits per value
    (value c at bit offset bits * c), cut into uint32 words, padded with zeros to a
    whole number of 32-value chunks: (rows, bits * ceil(cols / 32)) uint32."""
    q = np.asarray(q, np.uint64)
    rows, cols = q.shape
    words = bits * (-(-cols // 32))
    out = np.zeros((rows, words), np.uint64)
    for c in range(cols):
        bit = bits * c
        wi, sh = divmod(bit, 32)
        v = q[:, c] << np.uint64(sh)
        out[:, wi] |= v & np.uint64(0xFFFFFFFF)
        if sh + bits > 32:
            out[:, wi + 1] |= v >> np.uint64(32)
    return out.astype(np.uint32)


def unpack(packed, bits, cols):
    """The inverse of :func:`pack`: (rows, cols) uint8."""
    p = np.asarray(packed, np.uint64)
    rows = p.shape[0]
    out = np.zeros((rows, cols), np.uint8)
    mask = np.uint64(2 ** bits - 1)
    for c in range(cols):
        wi, sh = divmod(bits * c, 32)
        v = p[:, wi] >> np.uint64(sh)
        if sh + bits > 32:
            v |= p[:, wi + 1] << np.uint64(32 - sh)
        out[:, c] = (v & mask).astype(np.uint8)
    return out


def qlinear(x, q, scales, zeros, g_idx, bias=None):
    """x @ W_hat^T (+ bias), W_hat from :func:`dequantize_weight`, in float64."""
    w = dequantize_weight(q, scales, zeros, g_idx).astype(np.float64)
    y = np.asarray(x, np.float64) @ w.T
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y
