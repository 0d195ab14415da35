"""Write docs/api.md, the API reference, from gradkit's docstrings.

    python docs/gen_api.py          # from the repository root, gradkit installed

Every public name of every public module (its ``__all__``, else the names not starting
with ``_``), with its signature and its whole docstring, in the order of API.md.
"""
import importlib
import inspect
import os
import sys

MODULES = ["gradkit", "gradkit.norm", "gradkit.random", "gradkit.dropout", "gradkit.init",
           "gradkit.optim", "gradkit.optim.functional", "gradkit.clip", "gradkit.amp",
           "gradkit.schedules", "gradkit.regularization", "gradkit.losses",
           "gradkit.gradcheck", "gradkit.preprocessing", "gradkit.quant", "gradkit.linear",
           "gradkit.diagnostics", "gradkit.nn", "gradkit.data", "gradkit.distributed",
           "gradkit.torch", "gradkit.torch.functional", "gradkit.torch.optim"]


def public_names(mod):
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in vars(mod) if not n.startswith("_")]
    return [n for n in names if not inspect.ismodule(getattr(mod, n, None))]


def signature(obj):
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def document(obj, name, level):
    out = []
    kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else "value"
    if kind == "value":
        out.append(f"{'#' * level} `{name}`\n\n`{obj!r}`\n")
        return out
    out.append(f"{'#' * level} `{name}{signature(obj)}`\n")
    doc = inspect.getdoc(obj)
    if doc:
        out.append("```text\n" + doc + "\n```\n")
    if kind == "class":
        for mname, member in vars(obj).items():
            if mname.startswith("_") or not (inspect.isfunction(member)
                                              or isinstance(member, property)):
                continue
            if isinstance(member, property):
                mdoc = inspect.getdoc(member)
                out.append(f"{'#' * (level + 1)} `{name}.{mname}` (property)\n")
                if mdoc:
                    out.append("```text\n" + mdoc + "\n```\n")
            else:
                out += document(member, f"{name}.{mname}", level + 1)
    return out


def main(path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "api.md")):
    lines = ["# API reference\n",
             "Generated from the docstrings by `python docs/gen_api.py`; the contract of "
             "names and signatures is ../shared/API.md, the guide is [index.md](index.md).\n"]
    for modname in MODULES:
        mod = importlib.import_module(modname)
        lines.append(f"## `{modname}`\n")
        if mod.__doc__:
            lines.append(inspect.cleandoc(mod.__doc__) + "\n")
        for name in public_names(mod):
            obj = getattr(mod, name)
            home = getattr(obj, "__module__", None) or modname
            if modname != "gradkit" and not home.startswith(modname):
                continue  # re-exported from another module: documented there
            if modname == "gradkit" and callable(obj):
                lines.append(f"- `gradkit.{name}` → `{obj.__module__}.{name}`\n")
                continue
            lines += document(obj, f"{modname}.{name}", 3)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
