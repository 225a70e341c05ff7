"""Outbound sinks: where Gancang reports a delivery back (FHIR MedicationDispense, signed event webhooks)."""
