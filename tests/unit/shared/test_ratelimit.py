"""The in-memory sliding window counter behind the guards' rate limits."""

from limits import parse

from shared.ratelimit import SWEEP_EVERY, SlidingWindowCounter


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_hits_are_allowed_up_to_the_limit_per_key_and_then_refused():
    clock = Clock(6000.0)  # the start of a minute
    counter, limit = SlidingWindowCounter(clock), parse("3/minute")
    assert [counter.hit(limit, "principal", "dev-1") for _ in range(4)] == [True, True, True, False]
    assert counter.hit(limit, "principal", "dev-2")  # another key has its own budget
    assert not counter.test(limit, "principal", "dev-1")
    stats = counter.get_window_stats(limit, "principal", "dev-1")
    assert (stats.reset_time, stats.remaining) == (6060.0, 0)


def test_the_previous_window_weighs_as_much_as_it_still_overlaps():
    clock = Clock(6030.0)
    counter, limit = SlidingWindowCounter(clock), parse("4/minute")
    assert all(counter.hit(limit, "address", "a") for _ in range(4))
    clock.now = 6075.0  # a quarter into the next minute: 4 x 3/4 = 3 still count
    assert counter.hit(limit, "address", "a") and not counter.hit(limit, "address", "a")
    clock.now = 6105.0  # three quarters in: 4 x 1/4 + 1 = 2 count
    assert counter.get_window_stats(limit, "address", "a").remaining == 2
    clock.now = 6200.0  # two windows on: nothing counts
    assert counter.get_window_stats(limit, "address", "a").remaining == 4


def test_keys_whose_windows_have_passed_are_forgotten():
    clock = Clock(6000.0)
    counter, limit = SlidingWindowCounter(clock), parse("1000/minute")
    counter.hit(limit, "address", "once")
    clock.now = 6130.0
    for _ in range(SWEEP_EVERY):
        counter.hit(limit, "principal", "busy")
    assert [key[1:] for key in counter._windows] == [("principal", "busy")]


def test_at_a_window_boundary_the_previous_window_still_counts_whole_and_reads_count_nothing():
    clock = Clock(6059.999)  # the last moment of a minute
    counter, limit = SlidingWindowCounter(clock), parse("3/minute")
    assert all(counter.hit(limit, "principal", "dev-1") for _ in range(3))
    clock.now = 6060.0  # the next minute begins: the last one overlaps the sliding window whole
    for _ in range(5):
        assert not counter.test(limit, "principal", "dev-1")
        assert counter.get_window_stats(limit, "principal", "dev-1").remaining == 0
    assert not counter.hit(limit, "principal", "dev-1")
    clock.now = 6080.0  # a third in: 3 x 2/3 = 2 count, so one more passes, and only one
    assert counter.hit(limit, "principal", "dev-1") and not counter.hit(limit, "principal", "dev-1")
