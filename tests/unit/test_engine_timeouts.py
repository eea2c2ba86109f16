"""A connection whose network path went silent fails within the database timeout (libpq
keepalives, tcp_user_timeout, connect_timeout) instead of hanging."""

from billing_core.db.engine import stalled_network_timeouts


def test_every_wait_on_a_silent_path_is_bounded_by_the_timeout():
    args = stalled_network_timeouts(15)
    assert args["connect_timeout"] == 15 and args["tcp_user_timeout"] == 15_000
    idle, interval, count = args["keepalives_idle"], args["keepalives_interval"], args["keepalives_count"]
    assert args["keepalives"] == 1 and int(idle) + int(interval) * int(count) <= 15
