"""Review: the post-incident report and its figures."""
