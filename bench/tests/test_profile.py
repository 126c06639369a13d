"""Reading py-spy's collapsed stacks into hotspots."""

from regstd.bench.profile import summarize_collapsed

_ROOT = 'process 1:"python";run (asyncio/base_events.py:600)'
_HANDLE = "handle (/w/libs/runtime/src/regstd/runtime/consumer.py:{})"
COLLAPSED = "\n".join(
    [
        f"{_ROOT};{_HANDLE.format(97)};find_one (/v/site-packages/pymongo/asynchronous/collection.py:10) 6",
        f"{_ROOT};{_HANDLE.format(99)};to_kafka (/w/libs/runtime/src/regstd/runtime/events.py:120) 3",
        f"{_ROOT} 1",
        "not a stack line",
    ]
)


def test_self_and_inclusive_samples_add_up_by_function() -> None:
    summary = summarize_collapsed(COLLAPSED)
    assert summary.samples == 10
    top = summary.self_top[0]
    assert (top.function, top.samples, top.share) == (
        "find_one (pymongo/asynchronous/collection.py)",
        6,
        0.6,
    )
    inclusive = {h.function: h.samples for h in summary.inclusive_top}
    # two lines of one function count as one function
    assert inclusive["handle (regstd/runtime/consumer.py)"] == 9
    assert inclusive["run (asyncio/base_events.py)"] == 10


def test_the_inclusive_list_can_keep_only_our_code() -> None:
    summary = summarize_collapsed(COLLAPSED, inclusive_filter="regstd")
    assert [h.function for h in summary.inclusive_top] == [
        "handle (regstd/runtime/consumer.py)",
        "to_kafka (regstd/runtime/events.py)",
    ]
