"""Polling with a deadline, for effects that arrive asynchronously (a fetch, an ECDS push, a timer)."""
import time


def wait_for(predicate, timeout=10, interval=0.2):
    """True as soon as `predicate()` is; False once `timeout` seconds have passed without it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
