"""Reference loss scaler: torch.amp.GradScaler's rules in plain Python/NumPy (one
optimizer, the per-step stage kept on the scaler)."""
import numpy as np


def unscale_check_(grads, inv_scale):
    """grads *= inv_scale (float32 factor) in place; True if any element was inf/NaN."""
    inv = np.float32(inv_scale)
    found = False
    for g in grads:
        found = found or not bool(np.all(np.isfinite(g)))
        g *= g.dtype.type(inv)
    return found


class LossScaler:
    def __init__(self, init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self.enabled = enabled
        self.scale_ = np.float32(init_scale)
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval
        self.growth_tracker = 0
        self.found_inf = None
        self.stage = "ready"

    def get_scale(self):
        return float(self.scale_) if self.enabled else 1.0

    def scale(self, loss):
        if not self.enabled:
            return loss
        if isinstance(loss, np.ndarray):
            return loss * loss.dtype.type(self.scale_)
        return loss * float(self.scale_)

    def unscale_(self, grads):
        if not self.enabled:
            return False
        if self.stage != "ready":
            raise RuntimeError("unscale_() called twice or after step()")
        inv = np.float32(1.0 / np.float64(self.scale_))
        self.found_inf = unscale_check_(grads, inv)
        self.stage = "unscaled"
        return self.found_inf

    def step(self, optimizer, grads):
        if not self.enabled:
            optimizer.step(grads)
            return True
        if self.stage == "stepped":
            raise RuntimeError("step() called twice")
        if self.stage == "ready":
            self.unscale_(grads)
        self.stage = "stepped"
        if self.found_inf:
            return False
        optimizer.step(grads)
        return True

    def update(self):
        if not self.enabled:
            return
        if self.found_inf is None:
            raise RuntimeError("no inf checks were recorded prior to update()")
        if self.found_inf:
            self.scale_ = np.float32(float(self.scale_) * self.backoff_factor)
            self.growth_tracker = 0
        else:
            self.growth_tracker += 1
            if self.growth_tracker == self.growth_interval:
                with np.errstate(over="ignore"):
                    new = np.float32(float(self.scale_) * self.growth_factor)
                if np.isfinite(new):
                    self.scale_ = new
                self.growth_tracker = 0
        self.found_inf = None
        self.stage = "ready"
