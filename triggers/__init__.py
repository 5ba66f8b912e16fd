"""Trigger sources: kernel events, the Kubernetes pod watch, manual requests.

Triggers do not import each other; each turns its own source into
`sidecar.incident.Trigger` values.
"""
