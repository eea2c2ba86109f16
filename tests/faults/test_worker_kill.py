from chaos.scenarios import worker_kill


def test_workers_sigkilled_mid_stream_and_between_commit_and_ack_charge_every_event_once(scenario):
    row = scenario(worker_kill.NAME)
    assert "3 at usage:after_commit_before_ack" in row.detail
