"""Model plumbing: the Mistral gateway, its budget, the prompts and what a model sees of a page."""
