import threading
import time

import pika

from chaos.proxy import TcpProxy
from chaos.scenarios import publisher_stall
from chaos.stage import Services
from producers import ConfirmTimeout, MessageCompleted, Publisher


def test_a_stalled_path_to_rabbitmq_fails_the_publishers_calls_in_time_and_it_republishes(scenario):
    row = scenario(publisher_stall.NAME)
    assert not row.problem, (row.problem, row.detail)


def test_back_pressure_on_a_stalled_path_raises_after_block_timeout(services: Services) -> None:
    """publish() waiting for room (max_unconfirmed) on a silent path waited without bound."""
    with pika.BlockingConnection(pika.URLParameters(services.rabbit.url)) as connection:
        connection.channel().queue_declare("bpstall_usage.0", durable=True)
    proxy = TcpProxy(services.rabbit.port)
    url = services.rabbit.url.replace(f":{services.rabbit.port}/", f":{proxy.port}/")
    events = [
        MessageCompleted(
            event_id=f"bp-{i}",
            organization_id="org-0",
            agent_id="a",
            model="gpt-4o",
            input_tokens=1,
            output_tokens=1,
        )
        for i in range(5)
    ]
    publisher = Publisher(
        url, queue_prefix="bpstall_", partitions=1, max_batch=1, max_unconfirmed=2, block_timeout=2.0
    )
    try:
        proxy.stall()
        raised: list[BaseException] = []
        started = time.monotonic()
        thread = threading.Thread(target=lambda: _publish(publisher, events, raised), daemon=True)
        thread.start()
        thread.join(10)
        took = time.monotonic() - started
        assert not thread.is_alive(), "publish_many still blocked 10 s into the stall"
        assert raised and isinstance(raised[0], ConfirmTimeout), raised
        assert 1.5 < took < 5, took
    finally:
        proxy.close()
        publisher._shutdown()


def _publish(publisher: Publisher, events: list[MessageCompleted], raised: list[BaseException]) -> None:
    try:
        publisher.publish_many(events)
    except Exception as error:
        raised.append(error)
