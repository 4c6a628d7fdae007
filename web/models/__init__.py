"""The API's request and response models, a module per blueprint: strict on input."""
