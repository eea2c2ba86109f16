from chaos.scenarios import webhook_kill


def test_receiver_and_worker_sigkilled_while_the_provider_retries_apply_each_event_once(scenario):
    row = scenario(webhook_kill.NAME)
    assert "(2 died at an armed fault point first)" in row.detail
