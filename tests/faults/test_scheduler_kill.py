import pytest

from chaos.scenarios import scheduler_kill


@pytest.mark.xfail(
    reason="open (docs/reliability.md): after kills mid-sweep some subscriptions are never found due "
    "again; seen at 50 and 1,000 subscriptions, passed at 100",
    strict=False,
)
def test_the_scheduler_killed_mid_sweep_at_a_month_boundary_grants_every_month_once(scenario):
    row = scenario(scheduler_kill.NAME)
    assert row.detail.startswith("3 scheduler deaths at scheduler:between_grant_sends")
