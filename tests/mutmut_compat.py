"""A pytest plugin for `make mutation` only (docs/mutation.md), for mutmut 3.7 under pytest 9.

- mutmut 3.7 reads `item._nodeid`, which pytest 9 no longer has (mutmut 3.8 reads `item.nodeid`, but
  requires click >= 8.4.2, which faust-streaming, click < 8.4, forbids in the same environment).
- mutmut runs the tests that cover a mutant by passing their ids back to pytest. An id whose parameters
  hold brackets (`test_x[Penalty.kinds[]]`) cannot be given on a command line: such an id is replaced by
  its test function's, and the function's cases not asked for are deselected.

And two changes of what runs. A test that opens a RocksDB store is skipped: mutmut runs the clean tests in its
own process and forks a child per mutant; RocksDB's background threads live in the parent, so a child's store
waits for them for ever when it closes (a stack dump showed `SubjectStore.close`), and the hang was counted a
timeout, that is killed. A property test (hypothesis) runs at most `MUTATION_EXAMPLES_MAX` examples,
with the seed mutmut is given. A surviving mutant runs every test that reaches its function, and the
property tests' hundreds of examples were most of that time; a mutant that only an example beyond the
first few would show is counted a survivor (the score is, if anything, low).
"""
from __future__ import annotations

import pytest
from hypothesis import settings

MUTATION_EXAMPLES_MAX = 25

_wanted: dict[str, set[str]] = {}  # "path::function" -> the ids with brackets asked for


def _function_of(arg: str) -> str | None:
    """The function's id for an id that cannot be given on a command line, else None."""
    head, bracket, params = arg.partition("[")
    if "::" in head and bracket and ("[" in params[:-1] or "]" in params[:-1]):
        return head
    return None


def pytest_configure(config):
    import streams.store
    streams.store.Rdict = _no_rocksdb


def _no_rocksdb(*args, **kwargs):
    pytest.skip("opens a RocksDB store, which a forked mutant's child cannot close (docs/mutation.md)")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    _wanted.clear()  # mutmut runs pytest many times in one process (and in its forks)
    functions = {function for function in map(_function_of, args) if function is not None}
    rewritten: list[str] = []
    for arg in args:
        function = arg.partition("[")[0]
        if function not in functions:
            rewritten.append(arg)
            continue
        if function not in _wanted:  # the function once, and each of its cases asked for, with brackets or not
            rewritten.append(function)
        _wanted.setdefault(function, set()).add(arg)
    args[:] = rewritten


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid
        _fewer_examples(getattr(item, "obj", None))
    if not _wanted:
        return
    kept, dropped = [], []
    for item in items:
        function = item.nodeid.partition("[")[0]
        (dropped if function in _wanted and item.nodeid not in _wanted[function] else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _fewer_examples(test) -> None:
    """At most MUTATION_EXAMPLES_MAX examples for a property test (hypothesis reads its settings at call time)."""
    current = getattr(test, "_hypothesis_internal_use_settings", None)
    if current is not None and current.max_examples > MUTATION_EXAMPLES_MAX:
        test._hypothesis_internal_use_settings = settings(current, max_examples=MUTATION_EXAMPLES_MAX)
