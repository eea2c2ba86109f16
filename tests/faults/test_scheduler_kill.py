from chaos.scenarios import scheduler_kill


def test_the_scheduler_killed_mid_sweep_at_a_month_boundary_grants_every_month_once(scenario):
    row = scenario(scheduler_kill.NAME)
    assert row.detail.startswith("3 scheduler deaths at scheduler:between_grant_sends")
