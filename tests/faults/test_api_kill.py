from chaos.scenarios import api_kill


def test_the_api_sigkilled_while_clients_retry_keyed_grants_and_event_batches(scenario):
    row = scenario(api_kill.NAME)
    assert "API SIGKILLs" in row.detail and not row.detail.startswith("0 ")
