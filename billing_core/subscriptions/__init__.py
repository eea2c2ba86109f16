"""Subscriptions: the lifecycle rules (pure), the services that apply them, and the grant sweeper."""
