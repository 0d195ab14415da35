"""Adaptive, interleaved timing of several callables.

Each callable is called once, warmed up (at least one more call), then timed in batches of calls sized so that one batch
lasts at least ``BATCH_SECONDS`` (so the timer's resolution and overhead do not matter
for microsecond calls).  The callables take turns, one batch each per round, so a
drift of the machine (another process, the clock, the temperature) hits them alike.  A
callable leaves the rotation once it has run ``min_rounds`` batches and ``budget``
seconds, or ``4 * budget`` seconds once it has run ``SLOW_ROUNDS`` batches (a very slow
reference must not hold the run up, but one batch is never enough: the first calls
after the warm-up can be several times slower than the rest -- a 400 MB output's first
huge pages, say -- and a median of one is that outlier); the per-call time is the
median over its batches (the best is also reported).  A case past the cache passes a
scrub (``between``) run before every batch, outside the timing, and is timed one call
per batch.
"""
import statistics
import time

BATCH_SECONDS = 0.005
WARMUP_SECONDS = 0.05
SLOW_ROUNDS = 3
SCRUBBED_ROUNDS = 15   # at most, for a case scrubbed before every (single-call) batch


def _calls_per_batch(fn):
    """Warm fn up (about WARMUP_SECONDS, at least one call) and size its batch.  The
    first call is left out of the sizing: it builds a lazy case's data and faults in
    its arrays' pages."""
    clock = time.perf_counter
    fn()
    calls, start = 0, clock()
    while True:
        fn()
        calls += 1
        elapsed = clock() - start
        if elapsed >= WARMUP_SECONDS:
            break
    per_call = elapsed / calls          # > 0: the loop ran for WARMUP_SECONDS at least
    return max(1, int(BATCH_SECONDS / per_call))


def _run_batch(fn, calls):
    clock = time.perf_counter
    start = clock()
    for _ in range(calls):
        fn()
    return (clock() - start) / calls


def measure(callables, budget=0.3, min_rounds=5, max_rounds=1000, between=None):
    """Time each callable of the dict ``{name: fn}`` in turns.

    ``between`` (optional) is called, untimed, before every batch (and before each
    callable's warm-up): the cache scrub of a case past the cache, so that every timed
    call starts from the same cache state whoever ran before it.  A batch is then one
    call (in a batch of several, the later calls found what the first left in the
    cache: a 2 ms kernel was timed half cold, half warm), and a callable stops after
    ``SCRUBBED_ROUNDS`` rounds if the budget has not stopped it before.

    Returns ``{name: {"median": s, "best": s, "rounds": r, "calls": total calls}}``
    with seconds per call.
    """
    batch = {}
    for name, fn in callables.items():
        if between is not None:
            between()
            _calls_per_batch(fn)
            batch[name] = 1   # every timed call right after its scrub
        else:
            batch[name] = _calls_per_batch(fn)
    if between is not None:   # single cold calls: rounds, not the budget, bound the run
        max_rounds = min(max_rounds, SCRUBBED_ROUNDS)
    samples = {name: [] for name in callables}
    spent = dict.fromkeys(callables, 0.0)
    active = list(callables)
    while active:
        for name in list(active):
            if between is not None:
                between()
            per_call = _run_batch(callables[name], batch[name])
            samples[name].append(per_call)
            spent[name] += per_call * batch[name]
            rounds = len(samples[name])
            if (rounds >= max_rounds
                    or (rounds >= min_rounds and spent[name] >= budget)
                    or (rounds >= SLOW_ROUNDS and spent[name] >= 4 * budget)):
                active.remove(name)
    return {name: {"median": statistics.median(s), "best": min(s), "rounds": len(s),
                   "calls": len(s) * batch[name]}
            for name, s in samples.items()}
