"""The billing console: server-rendered pages where an organization's admins see and manage their
billing (Settings → Subscription: Plans, Credits and Usage), served by the API app under /console.
Importing the package adds every route to `bp`."""

from api.console import forms, forms_purchases, views  # noqa: F401  (they add their routes to the blueprint)
from api.console.blueprint import bp

__all__ = ["bp"]
