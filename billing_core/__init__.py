"""The billing domain: money, pricing, ledger rules, services and the database layer."""
