"""Benchmark case of :mod:`gradkit.torch`: one training step of a small pre-norm
residual MLP in PyTorch, as a user runs it, with ``gradkit.torch.patch(model)`` and
``gradkit.torch.optim.AdamW`` against the same model with torch alone.

The model: 4 blocks ``x + Dropout(Linear(GELU(Linear(RMSNorm(x)))))`` of width 1024,
a final RMSNorm and a 10-way linear head, cross-entropy loss (torch's, on both sides),
batch 512, dropout 0.1, AdamW (torch's default single-tensor CPU step as the peer).
A step is ``opt.zero_grad()`` (torch's default, ``set_to_none=True``), forward,
backward, ``opt.step()``.  ``patch`` swaps the model's
``nn.Linear``, ``nn.RMSNorm`` and ``nn.Dropout`` for gradkit's: the matrix products
(nine tenths of torch's step here) are then gradkit's own (gradkit.linear), the norms,
dropout and the optimizer step its kernels; GELU, the residual adds and the loss stay
torch's on both sides.  Not memory-bound as a whole: no limit, the goal
is the ratio to torch (>= 1.3x, warm allocator both: the runner times both sides again
in its warm-malloc subprocess).  Needs torch: without it there is no case.
"""
from .core import Case, Lazy, scaled, try_import_torch

WIDTH, BLOCKS, BATCH, CLASSES, P = 1024, 4, 512, 10, 0.1


def _model(torch, width):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm, self.fc1 = nn.RMSNorm(width), nn.Linear(width, width)
            self.act, self.drop = nn.GELU(), nn.Dropout(P)
            self.fc2 = nn.Linear(width, width)

        def forward(self, x):
            return x + self.drop(self.fc2(self.act(self.fc1(self.norm(x)))))

    torch.manual_seed(0)
    return nn.Sequential(*[Block() for _ in range(BLOCKS)], nn.RMSNorm(width),
                         nn.Linear(width, CLASSES))


def _build(torch, batch, width):
    import gradkit.torch as gt
    from gradkit.torch import optim as gto
    x = torch.randn(batch, width, generator=torch.Generator().manual_seed(1))
    t = torch.randint(0, CLASSES, (batch,), generator=torch.Generator().manual_seed(2))
    ce = torch.nn.functional.cross_entropy

    def stepper(model, opt):
        def step():
            opt.zero_grad()  # torch's default: set_to_none=True
            loss = ce(model(x), t)
            loss.backward()
            opt.step()
            return loss
        return step

    ours = gt.patch(_model(torch, width))
    theirs = _model(torch, width)
    return {"gk": stepper(ours, gto.AdamW(ours.parameters(), lr=1e-4)),
            "peer": stepper(theirs, torch.optim.AdamW(theirs.parameters(), lr=1e-4))}


def cases():
    torch = try_import_torch()
    if torch is None:
        return []
    batch, width = scaled(BATCH), max(8, scaled(WIDTH))
    lazy = Lazy(lambda: _build(torch, batch, width))
    return [Case(op="training step: pre-norm MLP, patch + AdamW",
                 size=f"{BLOCKS}x{width} batch {batch} f32", gradkit=lazy["gk"],
                 peer=lazy["peer"], peer_name="torch", goal=">=1.3x torch",
                 goal_ratio=1.3, extra={"blocks": BLOCKS, "dropout": P})]
