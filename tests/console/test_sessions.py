"""The server-side session store: ids, expiry and its bound."""

from __future__ import annotations

from services.console.sessions import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store(clock: Clock, capacity: int = 10) -> SessionStore:
    return SessionStore(idle_s=60, max_s=600, capacity=capacity, clock=clock)


def test_a_session_is_found_by_its_random_id_only() -> None:
    sessions = store(Clock())
    first = sessions.create("aak_x_secret", "USER", "alice", "a", "alice@example.com")
    second = sessions.create("aak_x_secret", "USER", "alice", "a", "")
    assert first != second
    assert len(first) >= 40
    found = sessions.get(first)
    assert found is not None
    assert found.token == "aak_x_secret"
    assert found.account == "a"
    assert "aak_x_secret" not in repr(found)
    assert found.csrf not in repr(found)
    assert sessions.get("guess") is None
    assert sessions.get(None) is None
    assert sessions.get("") is None


def test_a_session_ends_when_idle_or_too_old_or_ended() -> None:
    clock = Clock()
    sessions = store(clock)
    idle = sessions.create("t", "USER", "alice", "a", "")
    busy = sessions.create("t", "USER", "bob", "a", "")
    for _ in range(9):
        clock.now += 59
        assert sessions.get(busy) is not None  # used within the idle time: kept
    assert sessions.get(idle) is None
    clock.now += 600 - 9 * 59 + 1
    assert sessions.get(busy) is None  # the absolute limit, however busy
    ended = sessions.create("t", "USER", "carol", "a", "")
    sessions.end(ended)
    assert sessions.get(ended) is None


def test_the_least_recently_used_goes_when_full() -> None:
    sessions = store(Clock(), capacity=2)
    a = sessions.create("t", "USER", "a", "a", "")
    b = sessions.create("t", "USER", "b", "a", "")
    sessions.get(a)
    c = sessions.create("t", "USER", "c", "a", "")
    assert len(sessions) == 2
    assert sessions.get(b) is None
    assert sessions.get(a) is not None
    assert sessions.get(c) is not None


def test_one_principal_signing_in_again_and_again_evicts_only_its_own_sessions() -> None:
    # Finding (red team): any valid token, signed in `capacity` times, signed everybody else
    # out (least recently used first). A principal now keeps at most PER_PRINCIPAL sessions.
    sessions = store(Clock(), capacity=100)
    victims = [sessions.create("t", "USER", f"user{i}", "acme", "") for i in range(50)]
    other_tenant = sessions.create("t", "USER", "mallory", "acme_corp", "")
    floods = [sessions.create("t", "USER", "mallory", "acmeXcorp", "") for _ in range(1000)]
    assert all(sessions.get(v) is not None for v in victims)
    assert sessions.get(other_tenant) is not None  # same name, another account: another one
    live = [f for f in floods if sessions.get(f) is not None]
    assert live == floods[-SessionStore.PER_PRINCIPAL :]  # its newest kept
