from chaos.scenarios import service_restarts


def test_postgres_restarted_and_worker_connections_terminated_mid_stream(scenario):
    row = scenario(service_restarts.DATABASE)
    assert "1 fast restart" in row.detail


def test_rabbitmq_node_restarted_while_workers_hold_unacknowledged_messages(scenario):
    row = scenario(service_restarts.BROKER)
    assert "the publisher reconnected" in row.detail
