"""The warm-peer subprocess of ``gradkit bench``:
``python -m gradkit.bench.warm REQUEST.json OUT.json``.

The runner starts it with ``GLIBC_TUNABLES`` set so that malloc serves every block from
the heap and never returns freed memory to the system (runner.WARM_TUNABLES): a peer
that allocates a 32 MiB output on every call then reuses the pages of the previous
call's output instead of faulting in fresh ones.  For each requested case (found again
by discovery: family, op, size, sweep size), the peer is timed interleaved with gradkit
(``out=`` when the case has it) and the limit; minor page faults per call are counted,
so the JSON shows that the warm peer no longer pays them.
"""
import json
import sys
import traceback

from . import core, runner, timing


def measure(request):
    torch = core.try_import_torch()
    core._scale_override = request["scale"]
    answers = []
    built = {}
    with runner.same_threads(request["threads"], torch):
        for item in request["items"]:
            group = (item["family"], item["n"])
            if group not in built:
                # the previous group's cases go (with any data they share)
                built = {}
                cases, _ = runner.discover(item["n"], families={item["family"]})
                built[group] = {(c.op, c.size): c for c in cases}
                del cases
            case = built[group].pop((item["op"], item["size"]), None)
            if case is None or case.peer is None:
                answers.append({"error": "case not found by discovery"})
                continue
            calls = {"gradkit": case.gradkit_out or case.gradkit, "peer": case.peer}
            if case.limit is not None:
                calls.update(core.limit_forms(case.limit))
            try:
                times = timing.measure(calls, budget=request["budget"],
                                       min_rounds=request["min_rounds"],
                                       between=runner.scrub_for(case))
                core.pick_limit(times)
                faults = {k: runner.minor_faults(calls[k]) for k in ("gradkit", "peer")}
                answers.append({"times": times, "faults": faults, "error": None})
            except Exception:
                answers.append({"error": traceback.format_exc()})
            del case, calls
            # the next case warms its own pages up; what this one held goes back
            runner.release_memory()
    return answers


def main(argv):
    request_path, out_path = argv
    with open(request_path) as f:
        request = json.load(f)
    answers = measure(request)
    with open(out_path, "w") as f:
        json.dump(answers, f)
    return 0 if all(a.get("error") is None for a in answers) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
