from chaos.scenarios import refund_storm


def test_a_refund_storm_with_a_worker_kill_refunds_each_charged_interaction_once(scenario):
    row = scenario(refund_storm.NAME)
    assert "at refund:after_commit_before_ack" in row.detail
