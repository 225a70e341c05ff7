"""Patient notifications: SMS text, phone numbers, gateways and tracking tokens."""
