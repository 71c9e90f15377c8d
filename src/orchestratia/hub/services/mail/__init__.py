"""Mail: the tenant's SMTP settings, the messages the hub sends and sending them."""
