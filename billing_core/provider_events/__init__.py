"""Payment-provider events (from the webhook inbox) translated into subscription commands."""
