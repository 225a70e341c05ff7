"""Intake: hospital systems hand over prescriptions (FHIR R4 first)."""
