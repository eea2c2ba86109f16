from chaos.scenarios import slow_consumer


def test_a_balance_row_held_locked_stalls_only_its_own_messages_without_a_retry_storm(scenario):
    row = scenario(slow_consumer.NAME)
    assert not row.problem, row.problem
