"""Reference losses: the formulas, in NumPy (float64 accumulations), with the gradients
written out by hand.  Same names and signatures as gradkit.losses.

16-bit storage (float16, bfloat16): the same float64 formulas on the exactly widened
inputs; the gradient is rounded once to the input's dtype, a 'none' loss to float32."""
import numpy as np

_REDUCTIONS = ("mean", "sum", "none")


def _loss_dtype(dt):
    """The dtype of a 'none' loss: float32 for 16-bit storage, else the input's."""
    dt = np.dtype(dt)
    return np.dtype(np.float32) if dt.itemsize == 2 and dt.kind in "fV" else dt


def _log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    shifted = z - m
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits, labels, *, label_smoothing=0.0, reduction="mean",
                          ignore_index=-100, weight=None):
    z = np.asarray(logits, np.float64)
    n, c = z.shape
    logp = _log_softmax(z) if n else np.zeros((0, c))
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu":
        # torch: (1-eps) * nll(w) + eps/C * smooth, smooth_i = -sum_c w_c log p_ic; the
        # effective target of a row is u = (1-eps) w_y onehot(y) + eps/C w
        keep = labels != ignore_index
        target = np.zeros((n, c))
        rows = np.nonzero(keep)[0]
        target[rows, labels[rows]] = (1 - label_smoothing) * w[labels[rows]]
        target += label_smoothing / c * w
        target[~keep] = 0.0
        count = w[labels[rows]].sum()  # 'mean' divides by the weights of the kept rows
    else:
        target = w * ((1 - label_smoothing) * np.asarray(labels, np.float64)
                      + label_smoothing / c)
        count = n
    row_loss = -(target * logp).sum(axis=1)
    # d/dz of -sum_c u_c log p_c = p * sum(u) - u
    grad = np.exp(logp) * target.sum(axis=1, keepdims=True) - target
    if reduction == "mean":  # IEEE: no kept row (or their weights sum to 0) gives NaN
        with np.errstate(divide="ignore", invalid="ignore"):
            loss, grad = row_loss.sum() / count, grad / count
    elif reduction == "sum":
        loss = row_loss.sum()
    else:
        loss = row_loss.astype(_loss_dtype(logits.dtype))
    if reduction != "none":
        loss = float(loss)
    return loss, grad.astype(logits.dtype)


def kl_div(student_logits, teacher_logits, *, temperature=1.0):
    s = np.asarray(student_logits, np.float64) / temperature
    t = np.asarray(teacher_logits, np.float64) / temperature
    n = s.shape[0]
    logq, logp = _log_softmax(s), _log_softmax(t)
    p = np.exp(logp)
    terms = np.where(p > 0, p * (logp - logq), 0.0)
    loss = float(terms.sum() / n) if n else float("nan")
    grad = (np.exp(logq) - p) / (temperature * n) if n else np.zeros_like(s)
    return loss, grad.astype(student_logits.dtype)


def distillation_loss(student_logits, teacher_logits, labels, *, temperature=2.0,
                      alpha=0.7):
    dt = student_logits.dtype
    if _loss_dtype(dt) != dt:   # 16-bit: the float32 loss, its gradient rounded once
        labels = np.asarray(labels)
        loss, grad = distillation_loss(
            student_logits.astype(np.float32), teacher_logits.astype(np.float32),
            labels.astype(np.float32) if labels.dtype.itemsize == 2 else labels,
            temperature=temperature, alpha=alpha)
        return loss, grad.astype(dt)
    kl, dkl = kl_div(student_logits, teacher_logits, temperature=temperature)
    ce, dce = softmax_cross_entropy(student_logits, labels)
    w = alpha * temperature ** 2
    grad = w * dkl.astype(np.float64) + (1 - alpha) * dce.astype(np.float64)
    return w * kl + (1 - alpha) * ce, grad.astype(dt)


def kl_div_log_probs(input, target, *, reduction="mean", log_target=False):
    x = np.asarray(input, np.float64)
    t = np.asarray(target, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if log_target:
            elem, grad = np.exp(t) * (t - x), -np.exp(t)
        else:  # xlogy(t, t) - t x, xlogy(0, .) = 0
            elem = np.where(t == 0, 0.0, t * np.log(np.where(t == 0, 1.0, t))) - t * x
            grad = -t
        if reduction == "none":
            return elem.astype(_loss_dtype(input.dtype)), grad.astype(input.dtype)
        div = {"sum": 1.0, "mean": float(x.size),
               "batchmean": float(x.shape[0] if x.ndim else 1)}[reduction]
        return float(elem.sum() / div), (grad / div).astype(input.dtype)


def mse(pred, target, *, reduction="mean"):
    d = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    sq = d * d
    if reduction == "mean":
        return float(sq.sum() / d.size) if d.size else float("nan"), \
            (2 * d / max(d.size, 1)).astype(pred.dtype)
    if reduction == "sum":
        return float(sq.sum()), (2 * d).astype(pred.dtype)
    return sq.astype(_loss_dtype(pred.dtype)), (2 * d).astype(pred.dtype)
