"""The AI test writer: Mistral proposes specs as data; the platform validates and verifies them."""
