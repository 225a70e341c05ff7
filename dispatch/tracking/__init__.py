"""The patient's tracking page: small, server-rendered, private."""
