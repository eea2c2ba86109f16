"""The billing console: server-rendered pages where an organization's admins see and manage their
billing (Settings → Subscription: Plans, Credits and Usage), served by the API app under /console."""
