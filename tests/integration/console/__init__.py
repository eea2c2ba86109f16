"""The billing console through the Flask test client: signing in, what each tab shows, the
subscription actions and what they ask of the payment provider, and who may see what."""
