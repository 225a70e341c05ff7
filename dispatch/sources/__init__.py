"""Sources Gancang pulls from on a schedule, per hospital: a SIMRS Khanza database, a FHIR server."""
