"""`python -m gradkit demo`: train a small MLP on the handwritten digits, from scratch.

Every piece is gradkit's: standardization, Kaiming initialization, LayerNorm, dropout,
softmax cross-entropy with label smoothing, a gradient check of the whole model,
gradient clipping, AdamW with linear warmup then cosine decay.  The data (UCI digits,
CC BY 4.0) ships inside the package, so no network is needed.

``--distributed`` (under ``mpiexec -n N``) trains data-parallel: every rank builds the
same model from the seed, takes its shard of each global batch of 64, and a
``DistributedOptimizer`` sums the shard gradients (each weighted by its share of the
batch) before the same clipped step on every rank; dropout masks come from each rank's
own stream (``distributed.rank_generator``).

``--precision bf16`` or ``fp16`` trains in 16-bit storage (parameters, activations and
gradients in bfloat16 or float16, every kernel computing in float32), with float32
master weights and moments in AdamW (``master_weights=True``); fp16 adds dynamic loss
scaling (``amp.LossScaler``, GradScaler's defaults): the loss gradient is scaled up
before the backward pass and the step unscales, checks for inf/NaN and skips a step
whose gradients overflowed.
"""
import sys
import time

import numpy as np

import gradkit
from gradkit import _validation as _v
from gradkit import amp, gradcheck, losses, nn, optim, quant, schedules
from gradkit.data import load_digits
from gradkit.diagnostics import activation_stats
from gradkit.preprocessing import Standardizer


def build_model(rng, hidden=128, p=0.1, dtype=np.float32):
    """64 -> hidden -> hidden -> 10 with LayerNorm, ReLU and dropout."""
    return nn.Sequential(
        nn.Linear(64, hidden, init="kaiming", rng=rng, dtype=dtype),
        nn.LayerNorm(hidden, dtype=dtype), nn.ReLU(), nn.Dropout(p, rng=rng),
        nn.Linear(hidden, hidden, init="kaiming", rng=rng, dtype=dtype),
        nn.LayerNorm(hidden, dtype=dtype), nn.ReLU(), nn.Dropout(p, rng=rng),
        nn.Linear(hidden, 10, rng=rng, dtype=dtype),
    )


def split(X, y, test_fraction, seed):
    """A shuffled train/test split, stratified by class."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[:int(round(test_fraction * len(idx)))]] = True
    return X[~test], y[~test], X[test], y[test]


def gradient_check(seed):
    """check_grad on every parameter of a float64 copy of the model (dropout off, so
    the loss is a deterministic function of the parameters)."""
    rng = gradkit.random.Generator(seed)
    model = build_model(rng, hidden=16, p=0.0, dtype=np.float64)
    xb = np.random.default_rng(seed).standard_normal((8, 64))
    yb = np.arange(8) % 10
    names = [f"p{i}" for i in range(len(model.params))]

    def loss_and_grad(theta):
        for name, p in zip(names, model.params):
            p[...] = theta[name]
        loss, dlogits = losses.softmax_cross_entropy(model.forward(xb), yb,
                                                     label_smoothing=0.1)
        model.backward(dlogits)
        return loss, {n: g.copy() for n, g in zip(names, model.grads)}

    theta = {n: p.copy() for n, p in zip(names, model.params)}
    return gradcheck.check_grad(loss_and_grad, theta)


def _bar(done, total, width=28):
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + "]"


# names, not types: "bfloat16" loads ml_dtypes only for a bf16 run
PRECISIONS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def evaluate(model, X, y, batch=512):
    correct, loss_sum = 0, 0.0
    for i in range(0, len(y), batch):
        logits = model.forward(X[i:i + batch], training=False)
        loss, _ = losses.softmax_cross_entropy(logits, y[i:i + batch], reduction="sum")
        loss_sum += float(loss)
        correct += int((logits.argmax(axis=1) == y[i:i + batch]).sum())
    return loss_sum / len(y), correct / len(y)


def plot(path, history, activations):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib (pip install matplotlib); no plot written",
              file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, 1 + len(activations), figsize=(4 * (1 + len(activations)), 3.2))
    ax = axes[0]
    epochs = range(1, len(history["train_loss"]) + 1)
    ax.plot(epochs, history["train_loss"], label="train loss")
    ax.plot(epochs, history["test_loss"], label="test loss")
    ax.set_xlabel("epoch")
    ax.legend()
    for ax, (name, st) in zip(axes[1:], activations.items()):
        counts, edges = st["histogram"]
        ax.stairs(counts, edges, fill=True)
        ax.set_title(f"{name}: dead {st['dead_fraction']:.0%}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")
    return True


def quantized(model, Xcal, bits, method, group_size):
    """The model with every Linear replaced by a QuantLinear of its weight, quantized by
    RTN or by GPTQ layer after layer (each layer's Hessian from the calibration inputs
    as they reach it through the layers already quantized, as the GPTQ paper does)."""
    layers, h = [], Xcal
    for layer in model.layers:
        if isinstance(layer, nn.Linear):
            if method == "GPTQ":
                H, _ = quant.hessian(h)
                qw = quant.gptq(layer.weight, H, bits=bits, group_size=group_size)
            else:
                qw = quant.quantize_weight(layer.weight, bits=bits, group_size=group_size)
            layer = nn.QuantLinear.from_linear(layer, qw)
        h = layer.forward(h, training=False)
        layers.append(layer)
    return nn.Sequential(*layers)


def quantization_report(model, Xtr, Xte, yte, bits_list, seed, samples=256, group_size=32):
    """Test accuracy of the trained model in float32 and with RTN / GPTQ weights."""
    Xcal = Xtr[np.random.default_rng(seed).permutation(len(Xtr))[:samples]]
    _, acc = evaluate(model, Xte, yte)
    print(f"weight quantization (group {group_size}, GPTQ calibrated on {len(Xcal)} "
          f"training samples):")
    print(f"  float32        test acc {acc:6.1%}")
    for bits in bits_list:
        for method in ("RTN", "GPTQ"):
            _, acc = evaluate(quantized(model, Xcal, bits, method, group_size), Xte, yte)
            print(f"  {bits}-bit {method:<5}   test acc {acc:6.1%}")


def _world(distributed):
    """(comm, rank, size, print for rank 0 only); comm None in one process."""
    if not distributed:
        return None, 0, 1, print
    from gradkit import _mpi
    comm = _mpi.comm_or_world(None)
    rank = comm.Get_rank()
    return comm, rank, comm.Get_size(), (print if rank == 0 else lambda *a, **k: None)


def main(args):
    t0 = time.perf_counter()
    # checked here too: main() is callable without the command line's parser
    epochs = _v.positive_int(args.epochs, "epochs")
    seed, batch = _v.uint64(args.seed, "seed"), 64
    precision = getattr(args, "precision", "fp32")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    dtype, half = _v.as_dtype(PRECISIONS[precision]), precision != "fp32"
    if half and getattr(args, "distributed", False):
        sys.stderr.write("demo --distributed trains in float32 only (MPI has no 16-bit "
                         "floating type to sum in)\n")
        return 2
    try:
        comm, rank, size, print = _world(getattr(args, "distributed", False))
    except ImportError as e:  # --distributed without the mpi extra
        sys.stderr.write(f"demo --distributed: {e}\n")
        return 1
    cfg = gradkit.show_config()
    print(f"gradkit {gradkit.__version__}: {cfg['simd']} kernels, OpenMP "
          f"{'on' if cfg['openmp'] else 'off'}, {cfg['num_threads']} threads")

    X, y = load_digits()
    Xtr, ytr, Xte, yte = split(X, y, 0.2, seed)
    scaler = Standardizer().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    print(f"data: UCI handwritten digits, {len(ytr)} train / {len(yte)} test, 64 pixels "
          "standardized (StandardScaler semantics)")

    result = gradient_check(seed)
    print(f"gradient check of the model (float64, every parameter): {result.status}, "
          f"relative difference {result.difference:.1e}")
    if not result.ok:
        print(result)
        return 1

    rng = gradkit.random.Generator(seed)
    model = build_model(rng, dtype=dtype)
    print(f"model: {len(model.params)} parameter arrays, "
          f"{sum(p.size for p in model.params):,} parameters")
    Xtr_in, Xte_in = Xtr.astype(dtype), Xte.astype(dtype)
    scaler = amp.LossScaler() if precision == "fp16" else None
    if half:
        print(f"precision: {np.dtype(dtype).name} parameters, activations and gradients "
              "(float32 arithmetic in every kernel), float32 master weights and moments "
              "in AdamW" + (", dynamic loss scaling" if scaler else ""))
    steps_per_epoch = -(-len(ytr) // batch)
    total = epochs * steps_per_epoch
    warm = min(steps_per_epoch, max(total // 5, 1))
    opt = optim.AdamW(model.params, lr=3e-3, weight_decay=1e-2, master_weights=half)
    if comm is not None:
        from gradkit.distributed import DistributedOptimizer, rank_generator
        opt = DistributedOptimizer(opt, comm, op="sum")  # shard gradients pre-weighted
        drop_rng = rank_generator(seed, comm)
        for layer in model.layers:
            if isinstance(layer, nn.Dropout):
                layer.rng = drop_rng
        print(f"data-parallel over {size} MPI ranks: each global batch split in {size} "
              "shards, gradients summed by allreduce_, dropout from per-rank streams")
    sched = schedules.warmup(opt, warm, kind="linear",
                             after=schedules.CosineAnnealingLR(opt, T_max=max(total - warm, 1)))
    print(f"training: AdamW(lr=3e-3, weight_decay=1e-2), {warm} warmup steps then cosine "
          f"decay, clip_grad_norm_(1.0), label smoothing 0.1, batch {batch}")

    history = {"train_loss": [], "test_loss": []}
    order_rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        order = order_rng.permutation(len(ytr))
        loss_sum = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * batch:(s + 1) * batch]
            mine = np.array_split(idx, size)[rank]  # this rank's shard (all of it in one)
            logits = model.forward(Xtr_in[mine], training=True)
            loss, dlogits = losses.softmax_cross_entropy(logits, ytr[mine], reduction="sum",
                                                         label_smoothing=0.1)
            # the gradient of the global batch's mean loss (times the loss scale)
            factor = (scaler.get_scale() if scaler else 1.0) / len(idx)
            if half:  # scaled in float32, rounded once
                dlogits = (dlogits.astype(np.float32) * np.float32(factor)).astype(dtype)
            else:
                dlogits *= factor
            model.backward(dlogits)
            if scaler:  # unscale, check for inf/NaN, clip and step (or skip), then update
                scaler.step(opt, model.grads, max_norm=1.0)
                scaler.update()
            else:
                opt.step(model.grads, max_norm=1.0)  # clip_grad_norm_(1.0) fused into the step
            sched.step()
            loss_sum += float(loss)
            if sys.stdout.isatty():
                print(f"\repoch {epoch:>3}/{epochs} {_bar(s + 1, steps_per_epoch)}",
                      end="", flush=True)
        train_loss = (loss_sum if comm is None else comm.allreduce(loss_sum)) / len(ytr)
        test_loss, test_acc = evaluate(model, Xte_in, yte)
        history["train_loss"].append(train_loss)
        history["test_loss"].append(test_loss)
        end = "\r" if sys.stdout.isatty() else ""
        print(f"{end}epoch {epoch:>3}/{epochs} {_bar(1, 1)} train loss {train_loss:.4f}  "
              f"test loss {test_loss:.4f}  test acc {test_acc:6.1%}  "
              f"lr {sched.get_last_lr()[0]:.2e}")

    if comm is not None:
        same = comm.allgather(b"".join(p.tobytes() for p in model.params))
        print(f"parameters bitwise identical on all {size} ranks: "
              f"{'yes' if all(x == same[0] for x in same) else 'NO'}")
    if args.plot and rank == 0:
        acts, h = {}, Xte_in
        for i, layer in enumerate(model.layers):
            h = layer.forward(h, training=False)
            if isinstance(layer, nn.ReLU):
                acts[f"layer {i} ReLU"] = activation_stats(h, "relu")
        plot(args.plot, history, acts)

    _, test_acc = evaluate(model, Xte_in, yte)
    bits_list = getattr(args, "quantize", None)
    if bits_list and rank == 0:  # from the float32 weights (16-bit ones widened exactly)
        quantization_report(model.to(np.float32), Xtr, Xte, yte, bits_list, seed)

    print(f"done in {time.perf_counter() - t0:.1f} s")
    print(f"test accuracy: {100 * test_acc:.1f}%")
    return 0
