"""What the tests share that is not a fixture (the fixtures live in the conftest.py files):

- `api`: the HTTP API through the Flask test client, and manual subscriptions for it;
- `ledger`: builders that read like the worked examples (orgs, prices, grants, events, debits);
- `pipeline`: events for the producers, waiting for the ledger and the broker;
- `refunds`: failure reports and the two paths that settle them;
- `subscriptions`: worked example 7's plans and a clock the test moves;
- `providers`: stand-ins for the payment providers (a local HTTP fake of Stripe and Recurrente, and a
  provider that records what the payment port is asked);
- `webhook_payloads`: provider events shaped like the real ones, signed with the providers' libraries;
- `servers`: the PostgreSQL and RabbitMQ the tests use, and the database fixtures' admin statements;
- `processes`: `billing` commands and `billing worker` processes run as an operator runs them;
- `console`: driving the billing console (its paths, signing in, its forms, cookie and redirects);
- `dom`: a small DOM for the console's HTML;
- `metrics`: scraping a process's metrics port as Prometheus would;
- `docker_context`: what the Dockerfile's COPY lines put in the image, after `.dockerignore`.
"""
