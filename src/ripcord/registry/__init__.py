"""Model version stores behind one interface."""
