"""Write-back: delivery outcomes back to the hospital (FHIR MedicationDispense, Khanza) and event webhooks."""
