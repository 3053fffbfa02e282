"""Response: routing and the circuit breaker, golden-set validation, the rollback procedure."""
