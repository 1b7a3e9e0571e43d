"""One module per subcommand; each a typed function returning an exit code."""
