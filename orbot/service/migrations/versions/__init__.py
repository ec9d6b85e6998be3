"""One module per schema revision, oldest first: v0001 is the schema orbot had before migrations."""
