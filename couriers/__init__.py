"""Courier adapters: each speaks one provider's protocol and knows nothing of our database."""
