"""Drills: scenarios that inject a fault into a real model's traffic and run the SOP."""
