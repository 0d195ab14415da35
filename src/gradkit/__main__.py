"""Command line: ``python -m gradkit demo | bench | info``."""
import argparse
import sys


def _int_at_least(minimum, maximum=None):
    """An argparse type: an int in [minimum, maximum] (argparse then reports the
    option and exits with status 2 on anything else)."""
    def parse(text):
        try:
            v = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < minimum or (maximum is not None and v > maximum):
            hi = "" if maximum is None else f" and <= {maximum}"
            raise argparse.ArgumentTypeError(f"must be >= {minimum}{hi}, got {v}")
        return v
    parse.__name__ = "int"
    return parse


def _nonempty(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _sizes(text):
    """An argparse type: comma-separated element counts >= 1 ("1e3,1e5,4096")."""
    out = []
    for part in text.split(","):
        try:
            v = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected numbers, got {part!r}") from None
        if not (v >= 1 and v == int(v) and v <= 2 ** 40):
            raise argparse.ArgumentTypeError(f"sizes must be whole numbers >= 1, got {part!r}")
        out.append(int(v))
    return out


def _bits_list(text):
    """An argparse type: comma-separated bit widths from 2, 3, 4, 8 ("4,3")."""
    out = []
    for part in text.split(","):
        if part.strip() not in ("2", "3", "4", "8"):
            raise argparse.ArgumentTypeError(f"bit widths are 2, 3, 4 or 8, got {part!r}")
        out.append(int(part))
    return out


def _info(args):
    from . import show_config
    show_config(print_=True)
    return 0


def _demo(args):
    from ._demo import main as demo_main
    return demo_main(args)


def _bench(args):
    from .bench import main as bench_main
    return bench_main(args)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gradkit",
                                     description="gradkit: fast CPU training primitives")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="build and runtime configuration")
    p.set_defaults(func=_info)
    p = sub.add_parser("demo", help="train an MLP on the handwritten digits, from scratch")
    p.add_argument("--epochs", type=_int_at_least(1, 100_000), default=20,
                   help="training epochs, >= 1 (default 20)")
    p.add_argument("--seed", type=_int_at_least(0, 2**64 - 1), default=0,
                   help="seed of the split, the initialization and dropout (default 0)")
    p.add_argument("--plot", metavar="FILE", type=_nonempty, help="save loss curves and "
                   "activation histograms (matplotlib)")
    p.add_argument("--quantize", metavar="BITS", type=_bits_list, nargs="?", const=[4, 3],
                   default=None, help="after training, quantize the weights to these bit "
                   "widths (comma-separated from 2, 3, 4, 8; default 4,3) with RTN and "
                   "GPTQ and print the test accuracy of each")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="storage of parameters, activations and gradients: float32 "
                   "(default), bfloat16 or float16 (float32 master weights in AdamW; "
                   "fp16 with dynamic loss scaling)")
    p.add_argument("--distributed", action="store_true", help="train data-parallel over "
                   "MPI: run as `mpiexec -n N python -m gradkit demo --distributed` "
                   '(needs pip install "gradkit[mpi]")')
    p.set_defaults(func=_demo)
    p = sub.add_parser("bench", help="benchmark against NumPy and PyTorch")
    p.add_argument("--quick", action="store_true", help="a fast subset")
    p.add_argument("--json", metavar="FILE", type=_nonempty,
                   help="also write the results as JSON")
    p.add_argument("--plot", metavar="FILE", type=_nonempty,
                   help="also plot the results (matplotlib)")
    p.add_argument("--markdown", metavar="FILE", type=_nonempty,
                   help="also write the tables as Markdown (for docs/performance.md)")
    p.add_argument("--threads", type=_int_at_least(1, 4096), default=None,
                   help="threads (default: all)")
    p.add_argument("--filter", default=None, help="only ops whose name contains this")
    p.add_argument("--sweep", action="store_true",
                   help="also run every memory-bound kernel over sizes 1e3..1e8 at 1, 2 "
                   "(and all) threads; --plot then draws time and %% of limit vs size")
    p.add_argument("--sizes", type=_sizes, default=None, metavar="N,N,...",
                   help="the sweep's sizes in elements (default 1e3,1e4,...,1e8)")
    p.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    if args.command == "bench" and argv is None:
        # the command line (not a test calling main([...])): the thread pools' spin
        # limits are environment variables read at load time
        from .bench.runner import exec_with_idle_pools
        exec_with_idle_pools(sys.argv[1:])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
