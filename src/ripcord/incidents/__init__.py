"""Incidents: the lifecycle table, triage of signals into incidents, the recorded timeline."""
