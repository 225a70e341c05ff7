"""Orders: one prescription on its way to one patient, and its timeline."""
