from chaos.scenarios import stalled_network


def test_a_stalled_path_to_postgres_makes_statements_time_out_and_the_worker_recovers(scenario):
    row = scenario(stalled_network.NAME)
    assert not row.problem, row.problem
