"""Who did what to which record, and when: every staff action, kept for the hospital's audit."""
