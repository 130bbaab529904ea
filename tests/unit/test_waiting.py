"""netplumb.waiting.wait_for: the first true answer, exceptions as "not yet", and a timeout
that names what was awaited and the last error (on a fake clock: no test sleeps)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness.cluster import api
from netplumb import waiting
from netplumb.waiting import wait_for


class Clock:
    """``time.monotonic`` and ``time.sleep`` of :mod:`netplumb.waiting`, without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(waiting, "time", fake)
    return fake


def answers(*values: object) -> Callable[[], object]:
    """A condition answering ``values`` in turn (an exception instance is raised)."""
    it: Iterator[object] = iter(values)

    def fn() -> object:
        value = next(it)
        if isinstance(value, BaseException):
            raise value
        return value

    return fn


def test_returns_the_first_true_answer(clock: Clock) -> None:
    assert wait_for("x", answers(None, 0, "", [], {"ready": True}, "later")) == {"ready": True}
    assert clock.sleeps == [0.2] * 4


def test_a_true_first_answer_does_not_sleep(clock: Clock) -> None:
    assert wait_for("x", answers(7), interval=5.0) == 7
    assert clock.sleeps == []


def test_exceptions_count_as_not_yet(clock: Clock) -> None:
    fn = answers(OSError("refused"), ValueError("half a body"), None, "up")
    assert wait_for("the server", fn, interval=1.0) == "up"
    assert clock.sleeps == [1.0, 1.0, 1.0]


def test_timing_out_names_what_and_the_last_error(clock: Clock) -> None:
    calls: list[float] = []

    def fn() -> None:
        calls.append(clock.now)
        if len(calls) == 2:
            raise OSError("connection refused")

    with pytest.raises(TimeoutError) as err:
        wait_for("etcd /health", fn, timeout=3.0, interval=1.0)
    assert str(err.value) == ("timed out after 3s waiting for etcd /health "
                              "(last error: connection refused)")
    assert calls == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]  # until past the deadline


def test_timing_out_without_an_error_names_only_what(clock: Clock) -> None:
    with pytest.raises(TimeoutError, match=r"^timed out after 2s waiting for the Node$"):
        wait_for("the Node", lambda: False, timeout=2.0)


def test_only_the_retried_exceptions_count_as_not_yet(clock: Clock) -> None:
    class Pending(Exception):
        pass

    fn = answers(Pending("1 pod left"), KeyError("boom"))
    with pytest.raises(KeyError, match="boom"):
        wait_for("pods", fn, retry=(Pending,))
    with pytest.raises(ZeroDivisionError):
        wait_for("a sum", lambda: 1 / 0, retry=())
    assert len(clock.sleeps) == 1


def test_the_error_raised_on_timeout_can_be_the_callers(clock: Clock) -> None:
    class SetError(RuntimeError):
        pass

    with pytest.raises(SetError, match="timed out after 1s waiting for the deletion"):
        wait_for("the deletion", lambda: None, timeout=1.0, error=SetError)


def test_the_harness_api_reexports_it() -> None:
    assert api.wait_for is wait_for
