"""Reference finite differences: the plain loop over coordinates, in NumPy.  The twin
of the compiled stack-and-difference path of gradkit.gradcheck.numerical_grad."""
import numpy as np


def numerical_grad(f, x, *, eps=None, batched=False, batch_size=None):
    x = np.array(x)                       # a copy: x itself is never touched
    flat = x.reshape(-1)
    t = x.dtype.type
    g = np.empty(flat.size)
    for i in range(flat.size):
        old = flat[i]
        h = (np.cbrt(np.finfo(x.dtype).eps) * max(1.0, abs(float(old)))
             if eps is None else eps)
        up, down = t(float(old) + h), t(float(old) - h)
        flat[i] = up
        fp = float(f(x[None])[0]) if batched else float(f(x))
        flat[i] = down
        fm = float(f(x[None])[0]) if batched else float(f(x))
        flat[i] = old
        g[i] = (fp - fm) / (float(up) - float(down))
    return g.reshape(x.shape).astype(x.dtype)
